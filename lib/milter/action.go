package milter

import (
	"fmt"
	"strconv"
	"strings"

	gomilter "github.com/emersion/go-milter"

	"gannet/lib/reply"
)

// Kind is what the milters decided about a command or a message.
type Kind int

// The zero Kind, Accept, means no objection: go on.
const (
	// Accept: no milter objects; go on (the zero value).
	Accept Kind = iota
	// Reject refuses the command (or, after connect and HELO, every
	// command of the session) with a permanent error.
	Reject
	// TempFail refuses with a temporary error: the client tries again.
	TempFail
	// Discard accepts the message and throws it away (reply 250, deliver
	// nothing).
	Discard
	// Quarantine accepts the message but asks for it to be held (Postfix
	// puts it on hold); only Data returns it.
	Quarantine
)

func (k Kind) String() string {
	switch k {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case TempFail:
		return "tempfail"
	case Discard:
		return "discard"
	case Quarantine:
		return "quarantine"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Action is the verdict on a command or a message.
type Action struct {
	Kind Kind
	// Code, Enhanced and Text make the SMTP reply for Reject and TempFail:
	// the milter's own (SMFIR_REPLYCODE) or Postfix's defaults, 550 5.7.1
	// "Command rejected" and 451 4.7.1 "Service unavailable - try again
	// later". Text may hold several lines, separated by "\n".
	Code     int
	Enhanced string
	Text     string
	// Reason is the milter's reason for Quarantine.
	Reason string
	// Milter names the milter that decided ("" for Accept).
	Milter string
}

// Reply returns the SMTP reply for Reject and TempFail, nil for the other
// kinds.
func (a Action) Reply() *reply.Error {
	if a.Kind != Reject && a.Kind != TempFail {
		return nil
	}
	return reply.New(a.Code, a.Enhanced, "milter", a.Text)
}

// Postfix's replies for SMFIR_REJECT and SMFIR_TEMPFAIL (milter8.c), which
// are also what a failed milter's default action gives.
func rejectAction(name string) Action {
	return Action{Kind: Reject, Code: 550, Enhanced: "5.7.1", Text: "Command rejected", Milter: name}
}

func tempFailAction(name string) Action {
	return Action{Kind: TempFail, Code: 451, Enhanced: "4.7.1", Text: "Service unavailable - try again later", Milter: name}
}

// Bounds on a milter's reply text: it goes to the SMTP client.
const (
	maxReplyLines   = 10
	maxReplyLineLen = 400
)

// convert turns a go-milter action into ours; continued reports
// SMFIR_CONTINUE (the milter wants to see more).
func convert(name string, a *gomilter.Action) (act Action, continued bool, err error) {
	switch a.Code {
	case gomilter.ActContinue:
		return Action{}, true, nil
	case gomilter.ActAccept:
		return Action{}, false, nil
	case gomilter.ActReject:
		return rejectAction(name), false, nil
	case gomilter.ActTempFail:
		return tempFailAction(name), false, nil
	case gomilter.ActDiscard:
		return Action{Kind: Discard, Milter: name}, false, nil
	case gomilter.ActReplyCode:
		act, err := replyAction(name, a.SMTPCode, a.SMTPText)
		return act, false, err
	}
	return Action{}, false, fmt.Errorf("unexpected reply %q", byte(a.Code))
}

// replyAction reads an SMFIR_REPLYCODE reply: a 4xx or 5xx code and text,
// which may start with an enhanced status code (RFC 3463) and, as
// smfi_setmlreply makes it, continue on further lines that repeat the codes
// ("5.7.1 line one\r\n550 5.7.1 line two").
func replyAction(name string, code int, text string) (Action, error) {
	var act Action
	switch {
	case code >= 400 && code < 500:
		act = tempFailAction(name)
	case code >= 500 && code < 600:
		act = rejectAction(name)
	default:
		return Action{}, fmt.Errorf("reply code %d is neither 4xx nor 5xx", code)
	}
	act.Code = code
	class := byte('0' + code/100)
	var lines []string
	enhanced := ""
	for i, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if len(lines) == maxReplyLines {
			break
		}
		if i > 0 && len(l) >= 4 && isDigits(l[:3]) && (l[3] == ' ' || l[3] == '-') {
			l = l[4:]
		}
		if e, rest, ok := cutEnhanced(l); ok {
			// RFC 3463 section 2: the class must agree with the reply code.
			if e[0] == class && enhanced == "" {
				enhanced = e
			}
			l = rest
		}
		l = printable(l)
		if l != "" {
			lines = append(lines, l)
		}
	}
	if enhanced != "" {
		act.Enhanced = enhanced
	}
	if len(lines) > 0 {
		act.Text = strings.Join(lines, "\n")
	}
	return act, nil
}

// cutEnhanced splits "5.7.1 text" into "5.7.1" and "text" (RFC 3463
// section 2: class "." subject "." detail, of 1-3 digits each).
func cutEnhanced(l string) (code, rest string, ok bool) {
	e, rest, _ := strings.Cut(l, " ")
	parts := strings.Split(e, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return "", l, false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || !isDigits(p) {
			return "", l, false
		}
	}
	return e, rest, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// printable keeps what may go in an SMTP reply line: printable US-ASCII
// (RFC 5321 section 4.2: textstring), at most maxReplyLineLen of it.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxReplyLineLen; i++ {
		c := s[i]
		switch {
		case c == '\t':
			b.WriteByte(' ')
		case c >= ' ' && c < 0x7f:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}
