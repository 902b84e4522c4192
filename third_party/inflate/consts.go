package inflate

// Constants of compress/flate's deflate.go and huffman_bit_writer.go that
// the inflater uses.
const (
	maxMatchOffset = 1 << 15 // the largest match offset
	endBlockMarker = 256
)
