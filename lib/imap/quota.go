package imap

import (
	"fmt"
	"strings"

	"gannet/lib/imap/wire"
)

// quotaRoot is the name of the one quota root of an account (RFC 9208
// section 3.2): every mailbox of the account belongs to it. It is the
// empty string, as in the examples of RFC 9208 section 4.3.
const quotaRoot = ""

// quotaResources lists the resources of the account's quota root that
// have a limit, in the form of RFC 9208 section 4.1.1's quota-list
// without its parentheses: STORAGE in units of 1024 octets (section
// 5.1, rounded up) and MESSAGE (section 5.2). It is "" when the account
// has no limit, and the root then does not exist.
func (s *session) quotaResources() (string, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	// Read the account again: userctl may have changed the limits since
	// LOGIN.
	acct, err := s.srv.Store.GetAccountByID(ctx, s.acct.ID)
	if err != nil {
		return "", fmt.Errorf("quota of account %d: %w", s.acct.ID, err)
	}
	if acct.QuotaBytes <= 0 && acct.QuotaMessages <= 0 {
		return "", nil
	}
	use, err := s.srv.Store.AccountUsage(ctx, acct.ID)
	if err != nil {
		return "", fmt.Errorf("usage of account %d: %w", acct.ID, err)
	}
	var res []string
	if acct.QuotaBytes > 0 {
		res = append(res, fmt.Sprintf("STORAGE %d %d", kibUp(use.Bytes), kibUp(acct.QuotaBytes)))
	}
	if acct.QuotaMessages > 0 {
		res = append(res, fmt.Sprintf("MESSAGE %d %d", max(use.Messages, 0), acct.QuotaMessages))
	}
	return strings.Join(res, " "), nil
}

// kibUp converts octets to units of 1024 octets, rounding up.
func kibUp(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n + 1023) / 1024
}

// writeQuota writes an untagged QUOTA response (RFC 9208 section 4.3.1).
func (s *session) writeQuota(resources string) {
	s.w.Raw("* QUOTA ")
	s.w.AString(quotaRoot)
	s.w.Raw(" (" + resources + ")\r\n")
}

// cmdGetQuota is GETQUOTA (RFC 9208 section 4.1.1).
func (s *session) cmdGetQuota(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 1 || !args[0].IsString() {
		return "", bad("GETQUOTA takes a quota root")
	}
	res, err := s.quotaResources()
	if err != nil {
		return "", err
	}
	if args[0].Value != quotaRoot || res == "" {
		return "", no("NONEXISTENT", "No such quota root")
	}
	s.writeQuota(res)
	return "GETQUOTA completed", nil
}

// cmdGetQuotaRoot is GETQUOTAROOT (RFC 9208 section 4.1.2): the
// mailbox's quota roots, then the QUOTA of each.
func (s *session) cmdGetQuotaRoot(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 1 || !args[0].IsString() {
		return "", bad("GETQUOTAROOT takes a mailbox name")
	}
	ctx, cancel := s.opCtx()
	mb, err := s.mailbox(ctx, args[0].Value)
	cancel()
	if err != nil {
		return "", err
	}
	res, err := s.quotaResources()
	if err != nil {
		return "", err
	}
	// RFC 9208 section 4.3.2: the mailbox name, then its roots (none
	// when the account has no limit).
	s.w.Raw("* QUOTAROOT ")
	s.writeMailboxName(mb.Name)
	if res != "" {
		s.w.Raw(" ")
		s.w.AString(quotaRoot)
	}
	s.w.CRLF()
	if res != "" {
		s.writeQuota(res)
	}
	return "GETQUOTAROOT completed", nil
}

// cmdSetQuota is SETQUOTA (RFC 9208 section 4.1.3). Limits are set by
// the administrator (userctl), so it always fails; QUOTASET is not
// advertised (section 3.3).
func (s *session) cmdSetQuota(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 2 || !args[0].IsString() || args[1].Kind != wire.List {
		return "", bad("SETQUOTA takes a quota root and a list of limits")
	}
	return "", no("NOPERM", "Quotas are set by the administrator")
}
