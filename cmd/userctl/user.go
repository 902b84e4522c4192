package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/auth"
	"gannet/lib/store"
)

// userView is an account as list and show --json give it (no hash).
type userView struct {
	Address       string    `json:"address"`
	DisplayName   string    `json:"display_name,omitempty"`
	Disabled      bool      `json:"disabled"`
	HasPassword   bool      `json:"has_password"`
	HasSCRAM      bool      `json:"has_scram_sha256"`
	QuotaBytes    int64     `json:"quota_bytes"`
	QuotaMessages int64     `json:"quota_messages"`
	Created       time.Time `json:"created"`
	// Filled by show only.
	UsedBytes    *int64   `json:"used_bytes,omitempty"`
	UsedMessages *int64   `json:"used_messages,omitempty"`
	AppPasswords *int     `json:"app_passwords,omitempty"`
	Addresses    []string `json:"addresses,omitempty"`
}

func viewUser(a *store.Account) userView {
	return userView{
		Address: a.Address, DisplayName: a.DisplayName, Disabled: a.Disabled,
		HasPassword: a.PasswordHash != "", HasSCRAM: a.SCRAMSHA256 != "", QuotaBytes: a.QuotaBytes,
		QuotaMessages: a.QuotaMessages, Created: a.Created.UTC(),
	}
}

// appPasswordView is an app password as list --json gives it.
type appPasswordView struct {
	ID       int64      `json:"id"`
	Label    string     `json:"label"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "accounts: add, list, show, remove, passwords, app passwords",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add an account (with its default mailboxes)",
				ArgsUsage: "ADDRESS",
				Flags: append(passwordFlags(true),
					&cli.StringFlag{Name: "name", Usage: "display `NAME`"},
					&cli.StringFlag{Name: "quota-bytes", Usage: "storage limit in bytes, K, M, G or T (`SIZE`)"},
					&cli.Int64Flag{Name: "quota-messages", Usage: "limit on the number of messages (`N`)"},
					&cli.BoolFlag{Name: "disabled", Usage: "create the account disabled (no login)"},
				),
				Action: run(userAdd),
			},
			{
				Name:      "list",
				Usage:     "list accounts, of one domain or all",
				ArgsUsage: "[DOMAIN]",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(userList),
			},
			{
				Name:      "show",
				Usage:     "show an account with its usage and addresses",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(userShow),
			},
			{
				Name:      "remove",
				Usage:     "remove an account with all its mail and scripts",
				ArgsUsage: "ADDRESS",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					return s.dir.RemoveAccount(s.ctx, s.c.Args().First())
				}),
			},
			{
				Name:      "passwd",
				Usage:     "set an account's password",
				ArgsUsage: "ADDRESS",
				Flags:     passwordFlags(true),
				Action:    run(userPasswd),
			},
			{
				Name:      "disable",
				Usage:     "stop an account from logging in (mail still arrives)",
				ArgsUsage: "ADDRESS",
				Action:    run(func(s *session) error { return userSetDisabled(s, true) }),
			},
			{
				Name:      "enable",
				Usage:     "let a disabled account log in again",
				ArgsUsage: "ADDRESS",
				Action:    run(func(s *session) error { return userSetDisabled(s, false) }),
			},
			appPasswordCommand(),
		},
	}
}

func userAdd(s *session) error {
	c := s.c
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	a := &store.Account{
		Address:       c.Args().First(),
		DisplayName:   c.String("name"),
		QuotaMessages: c.Int64("quota-messages"),
		Disabled:      c.Bool("disabled"),
	}
	if c.IsSet("quota-bytes") {
		n, err := parseSize(c.String("quota-bytes"))
		if err != nil {
			return err
		}
		a.QuotaBytes = n
	}
	if a.QuotaMessages < 0 {
		return fmt.Errorf("quota-messages %d: %w", a.QuotaMessages, errData)
	}
	// Check the address before asking for a password.
	if _, _, err := s.dir.CheckNewAddress(s.ctx, a.Address); err != nil {
		return err
	}
	pw, generated, err := newPassword(c, a.Address)
	if err != nil {
		return err
	}
	if err := setPassword(s, a, pw); err != nil {
		return err
	}
	if err := s.dir.AddAccount(s.ctx, a); err != nil {
		return err
	}
	if generated {
		_, err = fmt.Fprintln(c.App.Writer, pw)
		return err
	}
	return nil
}

func userList(s *session) error {
	if err := needArgs(s.c, 0, 1); err != nil {
		return err
	}
	domain := ""
	if s.c.NArg() == 1 {
		d, err := s.dir.Domain(s.ctx, s.c.Args().First())
		if err != nil {
			return err
		}
		domain = d.Name
	}
	accts, err := s.st.ListAccounts(s.ctx, domain)
	if err != nil {
		return err
	}
	views := make([]userView, 0, len(accts))
	for i := range accts {
		views = append(views, viewUser(&accts[i]))
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		state := "enabled"
		if v.Disabled {
			state = "disabled"
		}
		rows = append(rows, []string{v.Address, v.DisplayName, state,
			sizeText(v.QuotaBytes, true), countText(v.QuotaMessages)})
	}
	return table(w, []string{"ADDRESS", "NAME", "STATE", "QUOTA", "MESSAGES"}, rows)
}

func userShow(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	u, err := s.st.AccountUsage(s.ctx, a.ID)
	if err != nil {
		return err
	}
	aps, err := s.st.ListAppPasswords(s.ctx, a.ID)
	if err != nil {
		return err
	}
	addrs, err := s.dir.AccountAddresses(s.ctx, a)
	if err != nil {
		return err
	}
	v := viewUser(a)
	v.UsedBytes, v.UsedMessages = &u.Bytes, &u.Messages
	n := len(aps)
	v.AppPasswords = &n
	v.Addresses = addrs
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, v)
	}
	state := "enabled"
	if v.Disabled {
		state = "disabled"
	}
	if !v.HasPassword {
		state += ", no password"
	} else if !v.HasSCRAM {
		state += ", no SCRAM-SHA-256 keys"
	}
	rows := [][]string{
		{"address:", v.Address},
		{"name:", v.DisplayName},
		{"state:", state},
		{"quota:", sizeText(v.QuotaBytes, true) + ", " + countText(v.QuotaMessages) + " messages"},
		{"used:", sizeText(u.Bytes, false) + " in " + strconv.FormatInt(u.Messages, 10) + " messages"},
		{"app passwords:", strconv.Itoa(n)},
		{"addresses:", strings.Join(addrs, ", ")},
		{"created:", timeText(v.Created)},
	}
	return fields(w, rows)
}

func userPasswd(s *session) error {
	c := s.c
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, c.Args().First())
	if err != nil {
		return err
	}
	pw, generated, err := newPassword(c, a.Address)
	if err != nil {
		return err
	}
	if err := setPassword(s, a, pw); err != nil {
		return err
	}
	if err := s.dir.UpdateAccount(s.ctx, a); err != nil {
		return err
	}
	if generated {
		_, err = fmt.Fprintln(c.App.Writer, pw)
		return err
	}
	return nil
}

// setPassword sets a's password hash and SCRAM-SHA-256 keys. A password
// SASLprep refuses gets no SCRAM keys: a warning says so and the password
// is set all the same, for PLAIN and LOGIN.
func setPassword(s *session, a *store.Account, pw string) error {
	err := auth.SetPassword(a, pw, s.env.Config.Directory.Argon2)
	if errors.Is(err, auth.ErrSCRAMPassword) {
		fmt.Fprintf(s.c.App.ErrWriter, "userctl: warning: %s: %v; SCRAM-SHA-256 will not work for this account\n", a.Address, err)
		return nil
	}
	return err
}

func userSetDisabled(s *session, disabled bool) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	a.Disabled = disabled
	return s.dir.UpdateAccount(s.ctx, a)
}

func appPasswordCommand() *cli.Command {
	return &cli.Command{
		Name:  "app-password",
		Usage: "extra passwords of an account, one per client",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "make a random app password and print it (it is shown only once)",
				ArgsUsage: "ADDRESS",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "label", Usage: "what the password is for (`LABEL`, e.g. the client)"},
					jsonFlag,
				},
				Action: run(appPasswordAdd),
			},
			{
				Name:      "list",
				Usage:     "list an account's app passwords",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(appPasswordList),
			},
			{
				Name:      "remove",
				Usage:     "remove an app password",
				ArgsUsage: "ADDRESS ID",
				Action:    run(appPasswordRemove),
			},
		},
	}
}

func appPasswordAdd(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	plain, err := auth.NewAppPassword()
	if err != nil {
		return err
	}
	hash, err := auth.HashAppPassword(plain, s.env.Config.Directory.Argon2)
	if err != nil {
		return err
	}
	label := s.c.String("label")
	if label == "" {
		label = "app password"
	}
	p := &store.AppPassword{AccountID: a.ID, Label: label, Hash: hash}
	if err := s.st.AddAppPassword(s.ctx, p); err != nil {
		return fmt.Errorf("user %s: app password: %w", a.Address, err)
	}
	if s.c.Bool("json") {
		return printJSON(s.c.App.Writer, struct {
			ID       int64  `json:"id"`
			Label    string `json:"label"`
			Password string `json:"password"`
		}{p.ID, p.Label, plain})
	}
	_, err = fmt.Fprintln(s.c.App.Writer, plain)
	return err
}

func appPasswordList(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	aps, err := s.st.ListAppPasswords(s.ctx, a.ID)
	if err != nil {
		return err
	}
	views := make([]appPasswordView, 0, len(aps))
	for _, p := range aps {
		views = append(views, appPasswordView{ID: p.ID, Label: p.Label, Created: p.Created.UTC(), LastUsed: optTime(p.LastUsed)})
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(aps))
	for _, p := range aps {
		rows = append(rows, []string{strconv.FormatInt(p.ID, 10), p.Label, timeText(p.Created), timeText(p.LastUsed)})
	}
	return table(w, []string{"ID", "LABEL", "CREATED", "LAST USED"}, rows)
}

func appPasswordRemove(s *session) error {
	if err := needArgs(s.c, 2, 2); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().Get(0))
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(s.c.Args().Get(1), 10, 64)
	if err != nil {
		return usage(s.c, "app password ID %q is not a number", s.c.Args().Get(1))
	}
	if err := s.st.DeleteAppPassword(s.ctx, a.ID, id); err != nil {
		return fmt.Errorf("user %s: app password %d: %w", a.Address, id, err)
	}
	return nil
}
