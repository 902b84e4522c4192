package mta_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"gannet/lib/mta"
	"gannet/lib/smtptest"
)

// BenchmarkDeliver sends 10 KB messages to a capture server over reused
// connections, with BDAT and with DATA.
func BenchmarkDeliver(b *testing.B) {
	for _, chunking := range []bool{true, false} {
		b.Run(fmt.Sprintf("chunking=%v", chunking), func(b *testing.B) {
			s, err := smtptest.Start(smtptest.Options{Chunking: chunking, MaxMessage: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c := &mta.Client{Hostname: "bench.example", Port: s.Port()}
			defer c.Close()
			data := bytes.Repeat([]byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678\r\n"), 128)
			m := &mta.Message{Sender: "a@example.org", Recipients: []mta.Recipient{{Address: "b@example.test"}}, Data: data}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				res := c.Deliver(context.Background(), "[127.0.0.1]", m)
				if !res[0].Delivered() {
					b.Fatalf("%+v", res[0])
				}
			}
		})
	}
}
