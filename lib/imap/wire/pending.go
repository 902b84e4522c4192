package wire

// TakeBuffered returns the bytes read from the source but not yet
// consumed, and drops them from the reader: what a client pipelined
// after a command that changes the stream's layering (COMPRESS, RFC 4978
// section 3) belongs to the new layer.
func (r *Reader) TakeBuffered() []byte {
	n := r.br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := r.br.Peek(n)
	out := append([]byte(nil), b...)
	r.br.Discard(n)
	return out
}
