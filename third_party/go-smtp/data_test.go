package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"strings"
	"testing"
)

// benchMessage is about what smtp-source -l 10240 sends (bench/smtp): a
// short header and 10 KB of CRLF lines, one of them dot-stuffed, then the
// end-of-data line.
func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("From: <sender@sender.test>\r\nTo: <demo@example.test>\r\nSubject: bench\r\n\r\n")
	for i := 0; b.Len() < 10240; i++ {
		if i == 50 {
			b.WriteString("..a dot-stuffed line\r\n")
		}
		fmt.Fprintf(&b, "La de da de da %d. La de da de da de da de da de da de da.\r\n", i)
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

func benchmarkDataReader(b *testing.B, mk func(br *bufio.Reader) io.Reader) {
	msg := benchMessage()
	src := bytes.NewReader(msg)
	br := bufio.NewReader(src)  // 4096 bytes, as net/textproto has it
	buf := make([]byte, 32<<10) // as lib/smtp reads
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.Reset(msg)
		br.Reset(src)
		r := mk(br)
		total := 0
		for {
			n, err := r.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if total != len(msg)-4 { // less the stuffing dot and ".\r\n"
			b.Fatalf("read %d bytes of %d", total, len(msg))
		}
	}
}

// BenchmarkDataReader measures the DATA reader on a 10 KB message.
func BenchmarkDataReader(b *testing.B) {
	benchmarkDataReader(b, func(br *bufio.Reader) io.Reader {
		return &dataReader{r: br, limited: true, n: 50 << 20}
	})
}

// BenchmarkDataReaderBytewise measures the reference (byte at a time)
// reader on the same message.
func BenchmarkDataReaderBytewise(b *testing.B) {
	benchmarkDataReader(b, func(br *bufio.Reader) io.Reader {
		return &byteDataReader{r: br, limited: true, n: 50 << 20}
	})
}

// scriptedReader is the connection under the DATA reader in
// FuzzDataReaderDiff: it returns data in reads of the sizes chunks gives
// (0 is an empty read, but never three in a row), then end; and logs every
// call.
type scriptedReader struct {
	data     []byte
	chunks   []byte
	next     int
	end      error // at the end of data
	endShare bool  // the end comes with the last bytes
	ended    bool
	empty    int // empty reads in a row
	log      []string
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	n, err := s.read(p)
	s.log = append(s.log, fmt.Sprintf("Read(%d) = %d, %v", len(p), n, err))
	return n, err
}

func (s *scriptedReader) read(p []byte) (int, error) {
	if s.ended {
		return 0, io.EOF // a closed connection stays closed
	}
	size := len(p)
	if len(s.chunks) > 0 {
		size = int(s.chunks[s.next%len(s.chunks)])
		s.next++
		if size == 0 && s.empty == 2 {
			size = 1 // at most two empty reads in a row, so that it ends
		}
		if size > len(p) {
			size = len(p)
		}
	}
	if size == 0 {
		s.empty++
	} else {
		s.empty = 0
	}
	n := copy(p[:size], s.data)
	s.data = s.data[n:]
	if len(s.data) == 0 && (n == 0 && size > 0 || s.endShare) {
		s.ended = true
		return n, s.end
	}
	return n, nil
}

// timeoutError is a net.Error timeout, as a read deadline gives.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var errReset = errors.New("connection reset by peer")

// FuzzDataReaderDiff holds dataReader to byteDataReader, the byte-at-a-time
// reader it replaced: for any input, any way the connection hands it over
// (read sizes, empty reads, the error at its end), any bufio buffer size
// (from 16 bytes, so that lines straddle refills) and any sizes of the reads
// made of it, with and without a size limit, both must return the same
// bytes and errors from every Read, read the connection the same way, and
// leave the same bytes behind for the next command.
func FuzzDataReaderDiff(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"..stuffed\r\n.\r\n",
		"a\r\n.\rb\r\n.\r\n", // the Gannet patch: \r\n.\r
		"a\n.\nb\r\n.\r\n",
		"a\r\r\n.\r\n\r\n.\r\n",
		".\r\n",
		"x\r\n..\r\n.\r\r\n.\r\n",
		"no end",
		"\r\n.",
	} {
		f.Add([]byte(s), []byte{}, []byte{}, uint8(0), uint16(0), uint8(0))
		f.Add([]byte(s), []byte{1, 0, 3}, []byte{1, 2, 0, 5}, uint8(0), uint16(7), uint8(0x11))
		f.Add([]byte(s), []byte{5}, []byte{3}, uint8(255), uint16(0), uint8(2))
	}
	f.Add(benchMessage(), []byte{200, 17}, []byte{}, uint8(3), uint16(5000), uint8(3))
	f.Fuzz(func(t *testing.T, data, chunks, reads []byte, bufSize uint8, limit uint16, end uint8) {
		size := 16 + int(bufSize)%48
		if bufSize >= 250 {
			size = 4096 // net/textproto's
		}
		var endErr error
		switch end % 4 {
		case 0:
			endErr = io.EOF
		case 1:
			endErr = errReset
		case 2:
			endErr = ErrTooLongLine
		case 3:
			endErr = timeoutError{}
		}
		mk := func() *scriptedReader {
			return &scriptedReader{data: data, chunks: chunks, end: endErr, endShare: end&0x10 != 0}
		}
		srcA, srcB := mk(), mk()
		brA, brB := bufio.NewReaderSize(srcA, size), bufio.NewReaderSize(srcB, size)
		a := &dataReader{r: brA, limited: limit > 0, n: int64(limit)}
		b := &byteDataReader{r: brB, limited: limit > 0, n: int64(limit)}

		var pa, pb [600]byte
		errs := 0
		for call := 0; call < 2*len(data)+20 && errs < 3; call++ {
			n := 32 << 10
			if len(reads) > 0 {
				n = int(reads[call%len(reads)])
			}
			bufA, bufB := pa[:n%len(pa)], pb[:n%len(pb)]
			if len(reads) == 0 {
				bufA, bufB = pa[:], pb[:]
			}
			for i := range bufA {
				bufA[i], bufB[i] = 0xAA, 0xAA
			}
			na, errA := a.Read(bufA)
			nb, errB := b.Read(bufB)
			if na != nb || !bytes.Equal(bufA, bufB) || !sameError(errA, errB) {
				t.Fatalf("Read %d (%d bytes): got %d %q %v, reference %d %q %v", call, len(bufA), na, bufA[:na], errA, nb, bufB[:nb], errB)
			}
			if a.state != b.state || a.n != b.n {
				t.Fatalf("Read %d: state %d, n %d; reference %d, %d", call, a.state, a.n, b.state, b.n)
			}
			if errA == ErrDataTooLarge {
				// handleData drains the rest of the message.
				a.limited, b.limited = false, false
			}
			if errA != nil {
				errs++
			}
		}
		if fmt.Sprint(srcA.log) != fmt.Sprint(srcB.log) {
			t.Fatalf("reads of the connection:\n%q\nreference:\n%q", srcA.log, srcB.log)
		}
		restA, errA := ioutil.ReadAll(brA)
		restB, errB := ioutil.ReadAll(brB)
		if !bytes.Equal(restA, restB) || !sameError(errA, errB) {
			t.Fatalf("left %q, %v; reference %q, %v", restA, errA, restB, errB)
		}
	})
}

// sameError reports whether two errors are the same value, or at least of
// the same type with the same text.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}

// TestDataReader gives the reader's output for the cases lib/smtp's
// smuggling defences rely on.
func TestDataReader(t *testing.T) {
	for _, c := range []struct {
		in, out, rest string
		err           error
	}{
		{"a\r\n.\r\nQUIT\r\n", "a\r\n", "QUIT\r\n", io.EOF},
		{".\r\n", "", "", io.EOF},
		{"..a\r\n.\r\n", ".a\r\n", "", io.EOF},
		{"a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", "", io.EOF}, // bare CR kept
		{"a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", "", io.EOF},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", "", io.EOF},             // bare LF: no end
		{"a\r\n.\n.\r\n", "a\r\n\n.\r\n", "", io.ErrUnexpectedEOF},  // dot elided, bare LF kept
		{"a\r\r\n.\r\nb\r\n.\r\n", "a\r\r\n.\r\nb\r\n", "", io.EOF}, // as upstream
		{"a\r\n.", "a\r\n", "", io.ErrUnexpectedEOF},
		{"a\r\n.\r", "a\r\n", "", io.ErrUnexpectedEOF},
	} {
		for _, size := range []int{16, 4096} {
			for _, piece := range []int{1, 2, 3, 1 << 10} {
				br := bufio.NewReaderSize(strings.NewReader(c.in), size)
				r := &dataReader{r: br}
				var out []byte
				var err error
				buf := make([]byte, piece)
				for err == nil {
					var n int
					n, err = r.Read(buf)
					out = append(out, buf[:n]...)
				}
				rest, _ := ioutil.ReadAll(br)
				if string(out) != c.out || err != c.err || string(rest) != c.rest {
					t.Errorf("%q (buffer %d, reads of %d): %q, %v, left %q; want %q, %v, left %q", c.in, size, piece, out, err, rest, c.out, c.err, c.rest)
				}
			}
		}
	}
}
