package wire

// TakeBuffered returns the bytes read from the source but not yet
// consumed, and drops them from the reader: what a client pipelined
// after a command that changes the stream's layering (COMPRESS, RFC 4978
// section 3) belongs to the new layer.
func (r *Reader) TakeBuffered() []byte {
	var out []byte
	if r.in.has {
		out = append(out, r.in.first[0])
		r.in.has = false
	}
	if r.br != nil {
		if n := r.br.Buffered(); n > 0 {
			b, _ := r.br.Peek(n)
			out = append(out, b...)
			r.br.Discard(n)
		}
	}
	return out
}
