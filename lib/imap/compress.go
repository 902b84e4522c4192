package imap

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"sync"

	"gannet/lib/imap/wire"
	"gannet/third_party/inflate"
)

// compressLevel is the deflate level of COMPRESS=DEFLATE: a fast level,
// since responses are mostly small and the CPU is shared by every session.
const compressLevel = flate.BestSpeed

// deflaters are the compressors of COMPRESS sessions between bursts. A
// compress/flate Writer holds about 1 MB of tables, so a session does not
// keep one: it takes one for a burst of responses and gives it back after
// the sync flush that ends the burst. A fresh compressor after a sync
// flush continues the same raw deflate stream (RFC 1951 section 3.2.3:
// blocks are independent; a new compressor only gives up back-references
// into earlier bursts), so an idle compressed session costs only its
// decompressor (32 KB window).
var deflaters sync.Pool

// deflateWriter is the compressing end of a COMPRESS=DEFLATE session. The
// wire.Writer calls Flush at the end of each burst of responses.
type deflateWriter struct {
	dst io.Writer
	fw  *flate.Writer // held during a burst only
}

func (d *deflateWriter) Write(p []byte) (int, error) {
	if d.fw == nil {
		if fw, ok := deflaters.Get().(*flate.Writer); ok {
			fw.Reset(d.dst)
			d.fw = fw
		} else {
			fw, err := flate.NewWriter(d.dst, compressLevel)
			if err != nil {
				return 0, err
			}
			d.fw = fw
		}
	}
	return d.fw.Write(p)
}

// Flush ends the burst with a sync flush (Z_SYNC_FLUSH, RFC 4978 section
// 4) so the client can decompress everything sent so far, and gives the
// compressor back. It is never closed: the stream has no final block.
func (d *deflateWriter) Flush() error {
	if d.fw == nil {
		return nil
	}
	err := d.fw.Flush()
	d.fw.Reset(io.Discard) // drop the reference to the connection
	deflaters.Put(d.fw)
	d.fw = nil
	return err
}

// cmdCompress is COMPRESS (RFC 4978 section 3): after the tagged OK both
// directions are raw deflate streams (RFC 1951, no zlib header), over TLS
// if TLS is active.
func (s *session) cmdCompress(c *wire.Command, args []wire.Token) (string, error) {
	if !s.srv.Compress {
		return "", bad("COMPRESS is not offered")
	}
	if len(args) != 1 || !args[0].IsString() {
		return "", bad("COMPRESS takes one mechanism name")
	}
	if !strings.EqualFold(args[0].Value, "DEFLATE") {
		return "", bad("Unknown compression mechanism %s", truncate(args[0].Value))
	}
	if s.compressed {
		return "", no("COMPRESSIONACTIVE", "DEFLATE is already active") // RFC 4978 section 3
	}
	s.w.Status(c.Tag, "OK", "", "DEFLATE active")
	if err := s.w.Flush(); err != nil {
		return "", err
	}
	// Whatever the client pipelined after the command line is already
	// compressed (RFC 4978 section 3: compression starts right after the
	// CRLF of the command and of the OK).
	var src io.Reader = s.conn
	if pending := s.r.TakeBuffered(); len(pending) > 0 {
		src = io.MultiReader(bytes.NewReader(pending), s.conn)
	}
	// A patched inflater: compress/flate holds back what a partial
	// flush ends (isync ends its bursts so).
	s.r.Reset(inflate.NewReader(src))
	s.w.Reset(&deflateWriter{dst: s.conn})
	s.compressed = true
	return "", errAnswered
}
