package inflate

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"
	"time"
)

// blockingReader returns its bytes, then blocks (as a socket with nothing
// more to come) instead of returning EOF.
type blockingReader struct{ r io.Reader }

func (b blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		select {} // never returns; the test's deadline catches a stall
	}
	return n, err
}

// A burst ended by zlib's Z_PARTIAL_FLUSH (an empty fixed-Huffman block,
// as isync sends) is readable at once; compress/flate would wait for more
// input.
func TestPartialFlushYields(t *testing.T) {
	// python3: zlib.compressobj(6, DEFLATED, -15); compress(b"5 NAMESPACE\r\n")
	// + flush(Z_PARTIAL_FLUSH)
	data, err := hex.DecodeString("3255f073f4750d0e707476e5e50208")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(blockingReader{bytes.NewReader(data)})
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "5 NAMESPACE\r\n" {
			t.Fatalf("read %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader waits for more input after a partial flush")
	}
}
