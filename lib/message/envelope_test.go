package message

import (
	"reflect"
	"strings"
	"testing"
)

// allFields is a message whose top-level part has every optional field the
// structure encoding knows, so that DecodeEnvelope has to read past each
// before the envelope.
var allFields = crlf(`From: "Alice" <alice@example.com>, Group: bob@example.org, carol@example.net;
Sender: sender@example.com
Reply-To: replies@example.com
To: undisclosed-recipients:;
Cc: =?utf-8?q?Caf=C3=A9?= <cafe@example.net>
Bcc: hidden@example.org
Subject: Every field
Date: Tue, 14 Nov 2023 09:59:57 +0000
Message-ID: <all@example.com>
In-Reply-To: <parent@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"; format=flowed; x-custom=1
Content-ID: <part@example.com>
Content-Description: a description
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''caf%C3%A9.txt; size=12
Content-Language: en, fr
Content-Location: https://example.com/file
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

SGVsbG8sIHdvcmxkIQo=
SGVsbG8sIHdvcmxkIQo=
`)

// envelopeMessages are the messages the DecodeEnvelope tests try.
func envelopeMessages() map[string][]byte {
	msgs := map[string][]byte{
		"all-fields":  []byte(allFields),
		"bench10KB":   bench10KB(),
		"no-header":   []byte("\r\nbody only\r\n"),
		"8-bit":       []byte("From: Jörg <j@example.de>\r\nSubject: Grüße\r\n\r\nHallo\r\n"),
		"rfc822-part": []byte(crlf("From: a@example.com\nContent-Type: message/rfc822\n\nFrom: b@example.com\nSubject: inner\n\nbody\n")),
	}
	for _, tc := range cases {
		msgs["case "+tc.name] = []byte(tc.raw)
	}
	return msgs
}

// TestDecodeEnvelope checks that DecodeEnvelope gives the envelope Decode
// gives, for every test message.
func TestDecodeEnvelope(t *testing.T) {
	for name, raw := range envelopeMessages() {
		t.Run(name, func(t *testing.T) {
			structure := Parse(raw).Meta().Structure
			p, err := Decode(structure)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			env, err := DecodeEnvelope(structure)
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			if !reflect.DeepEqual(env, p.Envelope()) {
				t.Fatalf("DecodeEnvelope = %+v\nDecode gives %+v", env, p.Envelope())
			}
		})
	}
}

// TestDecodeEnvelopeFields checks a few members of the envelope of the
// message with every optional field, so that the comparison with Decode
// above does not pass on two empty envelopes.
func TestDecodeEnvelopeFields(t *testing.T) {
	env, err := DecodeEnvelope(Parse([]byte(allFields)).Meta().Structure)
	if err != nil {
		t.Fatal(err)
	}
	if env == nil {
		t.Fatal("no envelope")
	}
	if env.Subject != "Every field" || env.MessageID != "<all@example.com>" || env.InReplyTo != "<parent@example.com>" {
		t.Errorf("Subject, Message-ID, In-Reply-To = %q, %q, %q", env.Subject, env.MessageID, env.InReplyTo)
	}
	if len(env.From) == 0 || env.From[0].Mailbox != "alice" || env.From[0].Host != "example.com" {
		t.Errorf("From = %+v", env.From)
	}
	for name, l := range map[string][]Address{"Sender": env.Sender, "Reply-To": env.ReplyTo, "Cc": env.Cc, "Bcc": env.Bcc} {
		if len(l) != 1 {
			t.Errorf("%s = %+v, want one address", name, l)
		}
	}
}

// TestDecodeEnvelopeRefuses checks that DecodeEnvelope refuses what is not
// a structure, and any structure cut short before the end of its envelope.
func TestDecodeEnvelopeRefuses(t *testing.T) {
	for _, bad := range [][]byte{nil, {}, {0}, {structVersion + 1, 0, 1, 0}, {structVersion}, {structVersion, 0, 0, 0}} {
		if env, err := DecodeEnvelope(bad); err == nil {
			t.Errorf("DecodeEnvelope(%v) = %+v, want an error", bad, env)
		}
	}
	structure := Parse([]byte(allFields)).Meta().Structure
	// The envelope ends with the Bcc list's last string: cutting anywhere
	// before it must fail, never give a partial envelope.
	end := strings.LastIndex(string(structure), "hidden") + len("hidden")
	for n := 0; n < end; n++ {
		if env, err := DecodeEnvelope(structure[:n]); err == nil {
			t.Fatalf("DecodeEnvelope of the first %d of %d bytes = %+v, want an error", n, len(structure), env)
		}
	}
}

// FuzzDecodeEnvelope checks that DecodeEnvelope accepts or refuses any
// bytes without panicking, and that wherever Decode accepts a structure
// DecodeEnvelope accepts it too and gives the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, tc := range cases {
		f.Add(Parse([]byte(tc.raw)).Meta().Structure)
	}
	f.Add(Parse([]byte(allFields)).Meta().Structure)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := DecodeEnvelope(data)
		p, derr := Decode(data)
		if derr != nil {
			return
		}
		if err != nil {
			t.Fatalf("Decode accepts the structure, DecodeEnvelope refuses it: %v", err)
		}
		if !reflect.DeepEqual(env, p.Envelope()) {
			t.Fatalf("DecodeEnvelope = %+v\nDecode gives %+v", env, p.Envelope())
		}
	})
}
