package message

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used. The benchmarks report it
// per operation ("cpu-ns/op") next to wall time, which is the figure to
// trust on a machine busy with other work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs fn b.N times and reports CPU time per operation.
func loop(b *testing.B, fn func()) {
	b.ReportAllocs()
	start := cpuTime()
	n := 0
	for b.Loop() {
		fn()
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// bench10KB is a 10 KB message shaped like everyday mail: a header with
// trace and authentication fields, and a multipart/alternative body with a
// quoted-printable text part and an HTML part.
func bench10KB() []byte {
	var b strings.Builder
	b.WriteString(crlf(`Return-Path: <newsletter@shop.example>
Delivered-To: demo@example.test
Received: from mail.shop.example (mail.shop.example [192.0.2.10])
	by mx.example.test (Gannet) with ESMTPS id 4F1A2B3C
	for <demo@example.test>; Tue, 14 Nov 2023 10:00:00 +0000
Received: from app01.internal (app01.internal [10.0.0.5])
	by mail.shop.example (Postfix) with ESMTP id 9A8B7C6D
	for <demo@example.test>; Tue, 14 Nov 2023 09:59:58 +0000
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; s=s1;
	h=from:to:subject:date:message-id:mime-version:content-type;
	bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
	b=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR
Authentication-Results: mx.example.test; dkim=pass header.d=shop.example;
	spf=pass smtp.mailfrom=shop.example; dmarc=pass header.from=shop.example
From: "Shop Example" <newsletter@shop.example>
To: Demo User <demo@example.test>
Subject: =?UTF-8?Q?Your_weekly_deals_=E2=80=94_up_to_50=25_off?=
Date: Tue, 14 Nov 2023 09:59:57 +0000
Message-ID: <20231114095957.12345@shop.example>
List-Unsubscribe: <mailto:unsub@shop.example>, <https://shop.example/u/123>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_alt_5f3c9a"

--=_alt_5f3c9a
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`))
	para := "Dear customer, this week's deals include gadgets, books and garden tools =\r\nat prices you will not find elsewhere. Caf=C3=A9 owners save extra.\r\n"
	for b.Len() < 5000 {
		b.WriteString(para)
	}
	b.WriteString(crlf(`
--=_alt_5f3c9a
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><style>body{font-family:sans-serif}</style></head><body>
`))
	html := "<p class=3D\"deal\">Dear customer, this week's <b>deals</b> include gadgets, books and garden tools.</p>\r\n"
	for b.Len() < 10100 {
		b.WriteString(html)
	}
	b.WriteString(crlf("</body></html>\n--=_alt_5f3c9a--\n"))
	return []byte(b.String())
}

// BenchmarkParse10KB is the ingest path: Parse and Meta (with the encoded
// structure and the preview).
func BenchmarkParse10KB(b *testing.B) {
	raw := bench10KB()
	b.SetBytes(int64(len(raw)))
	loop(b, func() { _ = Parse(raw).Meta() })
}

// BenchmarkParseOnly10KB is Parse alone.
func BenchmarkParseOnly10KB(b *testing.B) {
	raw := bench10KB()
	b.SetBytes(int64(len(raw)))
	loop(b, func() { _ = Parse(raw) })
}

// BenchmarkDecode is reading a stored structure back, as FETCH does.
func BenchmarkDecode(b *testing.B) {
	s := Parse(bench10KB()).Meta().Structure
	loop(b, func() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	})
}
