package imap

import (
	"time"

	"gannet/lib/imap/wire"
)

// maxAppendMessages bounds the messages of one MULTIAPPEND; their total
// size is bounded by the command's size limit (APPENDLIMIT plus a line).
const maxAppendMessages = 1000

// appendMsg is one message of an APPEND command.
type appendMsg struct {
	flags []string
	date  time.Time
	raw   []byte
}

// parseAppendMessages splits APPEND's arguments after the mailbox name
// into messages, each an optional flag list, an optional date-time and a
// literal: one for APPEND (RFC 9051 section 6.3.12), several for
// MULTIAPPEND (RFC 3502 section 6.3.11).
func parseAppendMessages(args []wire.Token) ([]appendMsg, error) {
	if len(args) == 0 {
		return nil, bad("APPEND takes a mailbox, optional flags and date, and a message")
	}
	var msgs []appendMsg
	var cur appendMsg
	var haveFlags, haveDate bool
	for _, t := range args {
		switch {
		case t.Kind == wire.Literal:
			if len(t.Value) == 0 {
				// RFC 3502 section 6.3.11: the whole command fails.
				return nil, no("", "Empty message")
			}
			cur.raw = []byte(t.Value)
			msgs = append(msgs, cur)
			if len(msgs) > maxAppendMessages {
				return nil, bad("too many messages in one APPEND (at most %d)", maxAppendMessages)
			}
			cur, haveFlags, haveDate = appendMsg{}, false, false
		case t.Kind == wire.List && !haveFlags && !haveDate:
			flags, err := parseFlagArgs([]wire.Token{t})
			if err != nil {
				return nil, err
			}
			cur.flags, haveFlags = flags, true
		case t.Kind == wire.Quoted && !haveDate:
			d, err := time.Parse(appendDateLayout, t.Value)
			if err != nil {
				return nil, bad("invalid date-time %q", truncate(t.Value))
			}
			cur.date, haveDate = d, true
		default:
			return nil, bad("invalid APPEND argument %s", truncate(t.String()))
		}
	}
	if haveFlags || haveDate {
		return nil, bad("APPEND takes the message as a literal")
	}
	return msgs, nil
}
