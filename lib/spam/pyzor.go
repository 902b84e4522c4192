package spam

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"

	"gannet/lib/config"
	"gannet/lib/message"
)

// TagPyzor is the tag of a message whose digest the Pyzor server knows as
// spam.
const TagPyzor = "PYZOR_CHECK"

// The Pyzor protocol (https://www.pyzor.org/, the pyzor 1.0 sources are the
// description): a request is one UDP datagram of RFC 822-style header lines,
//
//	Op: check
//	Op-Digest: <the message's digest, 40 hex digits>
//	Thread: <a number from 1024 to 65535 the reply repeats>
//	PV: 2.1
//	User: anonymous
//	Time: <Unix time>
//	Sig: <signature>
//
// and the reply another, with Code (200 for success), Diag, PV, Thread,
// Count (spam reports) and WL-Count (whitelist reports).
const (
	pyzorVersion = "2.1"
	pyzorUser    = "anonymous"
	// pyzorMaxReply bounds a reply datagram; pyzorMaxFields its lines.
	pyzorMaxReply  = 8 << 10
	pyzorMaxFields = 64
	// As SpamAssassin's Pyzor plugin: a digest whitelisted at least
	// pyzorWhitelistMin times, and for at least a fifth of its spam
	// reports, is not spam.
	pyzorWhitelistMin    = 10
	pyzorWhitelistFactor = 0.2
	// pyzorMaxText bounds the text digested.
	pyzorMaxText = 4 << 20
)

func init() {
	register("pyzor", 35, false, buildPyzor)
}

func buildPyzor(ctx context.Context, d Deps) (Checker, error) {
	p := d.Config.Spam.Pyzor
	if !p.Enabled {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(p.Server); err != nil {
		return nil, fmt.Errorf("pyzor server %q: %w", p.Server, err)
	}
	return newPyzorChecker(p, d.Log), nil
}

// pyzorBackoff is how long the server is left alone after it did not
// answer in time: each message would otherwise wait the whole timeout.
const pyzorBackoff = 30 * time.Second

// pyzorChecker asks a Pyzor server about each message's digest.
type pyzorChecker struct {
	cfg config.Pyzor
	log *slog.Logger
	now func() time.Time
	// quietUntil is when to ask again after a timeout (Unix nanoseconds).
	quietUntil atomic.Int64
}

func newPyzorChecker(cfg config.Pyzor, log *slog.Logger) *pyzorChecker {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Timeout.Duration <= 0 {
		cfg.Timeout.Duration = 3 * time.Second
	}
	return &pyzorChecker{cfg: cfg, log: log, now: time.Now}
}

// Name implements Checker.
func (c *pyzorChecker) Name() string { return "pyzor" }

// Remote implements Remote: the lookups wait on the network.
func (c *pyzorChecker) Remote() bool { return true }

// Check implements Checker: PYZOR_CHECK when the server counts at least
// the threshold of spam reports for the message's digest (and not as many
// whitelist reports). The count is left as the fact "pyzor".
func (c *pyzorChecker) Check(ctx context.Context, m *Message, r *Result) error {
	digest, ok := PyzorDigest(m)
	if !ok {
		return nil // nothing to digest: every empty message would match
	}
	if c.now().UnixNano() < c.quietUntil.Load() {
		return nil // not answering lately; the error was reported then
	}
	rep, err := c.query(ctx, digest)
	if errors.Is(err, errPyzorNoReply) && ctx.Err() == nil {
		c.quietUntil.Store(c.now().Add(pyzorBackoff).UnixNano())
		return fmt.Errorf("%w; not asking again for %s", err, pyzorBackoff)
	}
	if err != nil {
		return err
	}
	r.SetFact("pyzor", float64(rep.Count))
	if rep.Count < int64(c.cfg.Threshold) {
		return nil
	}
	if rep.WLCount >= pyzorWhitelistMin && float64(rep.WLCount) >= pyzorWhitelistFactor*float64(rep.Count) {
		return nil
	}
	r.Add(TagPyzor, c.cfg.Score, fmt.Sprintf("reported %d times, whitelisted %d", rep.Count, rep.WLCount))
	return nil
}

// pyzorReply is a server's answer.
type pyzorReply struct {
	Code    int
	Diag    string
	Thread  int
	Count   int64
	WLCount int64
}

// query sends a check request for digest and waits for the reply, sending
// the request a second time when half the time has passed without one.
func (c *pyzorChecker) query(ctx context.Context, digest string) (*pyzorReply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.Duration)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", c.cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("pyzor: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	thread := pyzorThread()
	req := pyzorRequest("check", digest, thread, c.now())
	deadline, _ := ctx.Deadline()
	retry := time.Now().Add(time.Until(deadline) / 2)
	buf := make([]byte, pyzorMaxReply+1)
	for attempt := 0; attempt < 2; attempt++ {
		if _, err := conn.Write(req); err != nil {
			return nil, fmt.Errorf("pyzor: sending: %w", err)
		}
		until := deadline
		if attempt == 0 {
			until = retry
		}
		conn.SetReadDeadline(until)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				timeout := errors.As(err, &ne) && ne.Timeout()
				switch {
				case timeout && attempt == 0 && ctx.Err() == nil:
					// Send again.
				case timeout || ctx.Err() != nil:
					return nil, fmt.Errorf("pyzor: %w from %s in %s", errPyzorNoReply, c.cfg.Server, c.cfg.Timeout)
				default:
					return nil, fmt.Errorf("pyzor: %w", err)
				}
				break
			}
			rep, err := parsePyzorReply(buf[:n])
			if err != nil {
				return nil, fmt.Errorf("pyzor: %s: %w", c.cfg.Server, err)
			}
			if rep.Thread != thread {
				continue // a late reply to an earlier request
			}
			if rep.Code != 200 {
				return nil, fmt.Errorf("pyzor: %s answered %d %s", c.cfg.Server, rep.Code, rep.Diag)
			}
			return rep, nil
		}
	}
	return nil, fmt.Errorf("pyzor: %w from %s", errPyzorNoReply, c.cfg.Server)
}

// errPyzorNoReply is the error of a query that got no answer in time.
var errPyzorNoReply = errors.New("no reply")

// pyzorThread returns a random thread number in [1024, 65536), the range
// pyzor leaves to requests.
func pyzorThread() int {
	var b [2]byte
	rand.Read(b[:])
	return 1024 + int(binary.BigEndian.Uint16(b[:]))%(65536-1024)
}

// pyzorRequest builds a request datagram, signed as the anonymous user.
func pyzorRequest(op, digest string, thread int, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Op: %s\nOp-Digest: %s\nThread: %d\nPV: %s\nUser: %s\nTime: %d\n",
		op, digest, thread, pyzorVersion, pyzorUser, now.Unix())
	sig := pyzorSign(b.String(), now.Unix(), pyzorHashKey(pyzorUser, ""))
	fmt.Fprintf(&b, "Sig: %s\n\n", sig)
	return b.Bytes()
}

// pyzorHashKey is pyzor's hash_key: lower(hex(SHA1(user ":" lower(key)))).
func pyzorHashKey(user, key string) string {
	s := sha1.Sum([]byte(user + ":" + strings.ToLower(key)))
	return hex.EncodeToString(s[:])
}

// pyzorSign is pyzor's sign_msg: hex(SHA1(SHA1(M) ":" T ":" K)), M the
// header lines before Sig with the surrounding white space trimmed, T the
// timestamp, K the hashed key.
func pyzorSign(msg string, timestamp int64, hashedKey string) string {
	inner := sha1.Sum([]byte(strings.TrimSpace(msg)))
	h := sha1.New()
	h.Write(inner[:])
	fmt.Fprintf(h, ":%d:%s", timestamp, hashedKey)
	return hex.EncodeToString(h.Sum(nil))
}

// parsePyzorFields reads "Name: value" lines up to a blank line or the end,
// at most pyzorMaxFields, names case-insensitive. The first of a name wins.
func parsePyzorFields(b []byte) (map[string]string, error) {
	if len(b) > pyzorMaxReply {
		return nil, errors.New("message too long")
	}
	if !utf8.Valid(b) {
		return nil, errors.New("message not UTF-8")
	}
	fields := map[string]string{}
	n := 0
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if n++; n > pyzorMaxFields {
			return nil, errors.New("too many fields")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("malformed line %q", truncate(line, 40))
		}
		name = strings.ToLower(name)
		if _, dup := fields[name]; !dup {
			fields[name] = strings.TrimSpace(value)
		}
	}
	return fields, nil
}

// parsePyzorReply parses a server's reply datagram.
func parsePyzorReply(b []byte) (*pyzorReply, error) {
	f, err := parsePyzorFields(b)
	if err != nil {
		return nil, fmt.Errorf("bad reply: %w", err)
	}
	rep := &pyzorReply{Diag: truncate(f["diag"], 100)}
	for _, k := range []string{"code", "diag", "thread", "pv"} {
		if _, ok := f[k]; !ok {
			return nil, fmt.Errorf("bad reply: no %s field", k)
		}
	}
	code, err := strconv.Atoi(f["code"])
	if err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("bad reply: code %q", truncate(f["code"], 20))
	}
	rep.Code = code
	thread, err := strconv.Atoi(f["thread"])
	if err != nil || thread < 0 || thread >= 1<<16 {
		return nil, fmt.Errorf("bad reply: thread %q", truncate(f["thread"], 20))
	}
	rep.Thread = thread
	if pv, err := strconv.ParseFloat(f["pv"], 64); err != nil || pv < 2 || pv >= 3 {
		return nil, fmt.Errorf("bad reply: protocol version %q", truncate(f["pv"], 20))
	}
	if code != 200 {
		return rep, nil
	}
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"count", &rep.Count}, {"wl-count", &rep.WLCount}} {
		s, ok := f[c.name]
		if !ok {
			return nil, fmt.Errorf("bad reply: no %s field", c.name)
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad reply: %s %q", c.name, truncate(s, 20))
		}
		*c.dst = v
	}
	return rep, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// PyzorDigest returns the Pyzor digest of m as pyzor 1.0 computes it
// (pyzor/digest.py): the text of every part (text/html reduced to its
// text), each line with long words (10 characters or more), email
// addresses, URLs and then all white space removed, lines shorter than 8
// characters dropped; of the rest, all when there are at most 4, else the
// 3 lines from 20% of the way and the 3 from 60%; SHA-1 of those, in hex.
// ok is false when no line is left: pyzor would send the digest of
// nothing, which every empty message shares.
func PyzorDigest(m *Message) (digest string, ok bool) {
	var lines []string
	for _, payload := range pyzorPayloads(m) {
		for _, line := range pySplitLines(payload) {
			if norm := pyzorNormalize(line); utf8.RuneCountInString(norm) >= 8 {
				lines = append(lines, norm)
			}
		}
	}
	if len(lines) == 0 {
		return "", false
	}
	h := sha1.New()
	if len(lines) <= 4 {
		for _, l := range lines {
			io.WriteString(h, l)
		}
	} else {
		for _, spec := range [][2]int{{20, 3}, {60, 3}} {
			for i := range spec[1] {
				if j := spec[0]*len(lines)/100 + i; j < len(lines) {
					io.WriteString(h, lines[j])
				}
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// pyzorPayloads returns what pyzor digests of each part, in the order of
// Python's Message.walk: a text part's decoded text (text/html reduced to
// its text), and the body of any other leaf part as it is written.
func pyzorPayloads(m *Message) []string {
	if m.Parsed == nil || m.Parsed.Root == nil {
		return nil
	}
	raw := bytes.NewReader(m.Raw)
	var out []string
	total := 0
	var walk func(pt *message.Part, depth int)
	walk = func(pt *message.Part, depth int) {
		if total > pyzorMaxText || depth > message.MaxDepth {
			return
		}
		if pt.IsMultipart() {
			for _, sub := range pt.Parts {
				walk(sub, depth+1)
			}
			return
		}
		if pt.Embedded != nil {
			walk(pt.Embedded, depth+1)
			return
		}
		var s string
		if pt.Type == "text" {
			s = pyzorText(pt, raw)
			if pt.Subtype == "html" {
				s = pyzorStripHTML(s)
			}
		} else {
			body, err := pt.Body(raw)
			if err != nil {
				return
			}
			s = strings.ToValidUTF8(string(body), "")
		}
		if total+len(s) > pyzorMaxText {
			s = s[:pyzorMaxText-total]
		}
		total += len(s)
		out = append(out, s)
	}
	walk(m.Parsed.Root, 0)
	return out
}

// pyzorText decodes a text part as pyzor does: without a charset (or with
// US-ASCII) the bytes that are not ASCII are dropped, otherwise those that
// do not decode are.
func pyzorText(pt *message.Part, raw io.ReaderAt) string {
	dec, err := pt.Decoded(raw)
	if err != nil {
		// An unknown transfer encoding: Python hands the body over as is.
		if dec, err = pt.Body(raw); err != nil {
			return ""
		}
	}
	cs := strings.ToLower(strings.TrimSpace(pt.Param("charset")))
	switch cs {
	case "", "us-ascii", "ascii":
		return strings.Map(func(r rune) rune {
			if r >= utf8.RuneSelf {
				return -1
			}
			return r
		}, string(dec))
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(dec), "")
	}
	s, _, err := pt.Text(raw, 0)
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(s, "\uFFFD", "")
}

// pyzorStripHTML keeps the text of an HTML document, each piece trimmed,
// joined with spaces, leaving out scripts and style sheets (pyzor's
// HTMLStripper).
func pyzorStripHTML(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var parts []string
	collect := true
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(parts, " ")
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			if n := string(name); n == "script" || n == "style" {
				collect = false
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if n := string(name); n == "script" || n == "style" {
				collect = true
			}
		case html.TextToken:
			if t := strings.TrimFunc(string(z.Text()), pyIsSpace); t != "" && collect {
				parts = append(parts, t)
			}
		}
	}
}

// pyIsSpace is Python's str.isspace for one character: Go's white space
// and the information separators U+001C to U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// pySplitLines splits s as Python's str.splitlines does: at \n, \r, \r\n,
// \v, \f, U+001C to U+001E, U+0085, U+2028 and U+2029.
func pySplitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, s[start:i])
			i += size
			if r == '\r' && i < len(s) && s[i] == '\n' {
				i++
			}
			start = i
			continue
		}
		i += size
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// pyzorNormalize applies pyzor's patterns to one line, in its order:
// \S{10,} (long words), \S+@\S+ (addresses), [a-z]+:\S+ (URLs, case
// ignored) all removed, then every white space character.
func pyzorNormalize(line string) string {
	words := pyWords(line)
	// Long words.
	kept := words[:0]
	for _, w := range words {
		if utf8.RuneCountInString(w) < 10 {
			kept = append(kept, w)
		}
	}
	var b strings.Builder
	for _, w := range kept {
		// \S+@\S+ matches a whole word holding an "@" with something
		// before and after it.
		if len(w) >= 3 {
			if i := strings.IndexByte(w[1:], '@'); i >= 0 && i+1 < len(w)-1 {
				continue
			}
		}
		b.WriteString(cutURL(w))
	}
	return b.String()
}

// pyWords splits s at Python's white space.
func pyWords(s string) []string {
	return strings.FieldsFunc(s, pyIsSpace)
}

// cutURL removes from a word what [a-z]+:\S+ (case ignored) matches: from
// the first run of letters followed by ":" and one more character, to the
// end of the word.
func cutURL(w string) string {
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRuneInString(w[i:])
		if !pyLetter(r) {
			i += size
			continue
		}
		// A run of letters from i; only its start matters, as a match
		// from a later letter of the run would start later.
		j := i
		for j < len(w) {
			r2, s2 := utf8.DecodeRuneInString(w[j:])
			if !pyLetter(r2) {
				break
			}
			j += s2
		}
		if j < len(w) && w[j] == ':' && j+1 < len(w) {
			return w[:i]
		}
		i = j
	}
	return w
}

// pyLetter is [a-z] with re.IGNORECASE in Python 3: ASCII letters, and the
// four characters whose case folding is one: İ, ı, ſ and the Kelvin sign.
func pyLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == 0x130 || r == 0x131 || r == 0x17f || r == 0x212a
}
