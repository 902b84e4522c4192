package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// dkimView is a DKIM key as list and show --json give it; never the
// private key.
type dkimView struct {
	Domain    string    `json:"domain"`
	Selector  string    `json:"selector"`
	Algorithm string    `json:"algorithm"`
	Active    bool      `json:"active"`
	Created   time.Time `json:"created"`
	// DNSName and DNSValue are the TXT record to publish, the value as one
	// string.
	DNSName  string `json:"dns_name"`
	DNSValue string `json:"dns_value"`
}

// dkimAlgorithms maps --algorithm to the algorithms of the keys made.
var dkimAlgorithms = map[string][]string{
	"rsa":     {msgauth.AlgRSASHA256},
	"ed25519": {msgauth.AlgEd25519SHA256},
	"both":    {msgauth.AlgRSASHA256, msgauth.AlgEd25519SHA256},
}

func dkimCommand() *cli.Command {
	keyAction := func(fn func(s *session, domain, selector string) error) cli.ActionFunc {
		return run(func(s *session) error {
			if err := needArgs(s.c, 2, 2); err != nil {
				return err
			}
			d, err := s.dir.Domain(s.ctx, s.c.Args().Get(0))
			if err != nil {
				return err
			}
			return fn(s, d.Name, strings.ToLower(s.c.Args().Get(1)))
		})
	}
	return &cli.Command{
		Name:  "dkim",
		Usage: "DKIM keys that sign the mail of the local domains",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make signing keys for a domain and print the DNS records to publish",
				ArgsUsage: "DOMAIN",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "selector", Usage: "the selector (default gannetYYYYMM + r or e; with both algorithms, r and e are appended to the one given)"},
					&cli.StringFlag{Name: "algorithm", Value: "both", Usage: "rsa, ed25519 or both"},
					&cli.IntFlag{Name: "bits", Value: msgauth.DefaultRSABits, Usage: "RSA key size"},
					&cli.BoolFlag{Name: "disabled", Usage: "create the keys disabled, to enable once the records are published"},
				},
				Action: run(dkimCreate),
			},
			{
				Name:      "list",
				Usage:     "list DKIM keys, of one domain or all",
				ArgsUsage: "[DOMAIN]",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(dkimList),
			},
			{
				Name:      "show",
				Usage:     "print a key's DNS record",
				ArgsUsage: "DOMAIN SELECTOR",
				Flags:     []cli.Flag{jsonFlag},
				Action: keyAction(func(s *session, domain, selector string) error {
					k, err := dkimKey(s, domain, selector)
					if err != nil {
						return err
					}
					v, err := dkimViewOf(k)
					if err != nil {
						return err
					}
					if s.c.Bool("json") {
						return printJSON(s.c.App.Writer, v)
					}
					return writeDKIMRecords(s.c.App.Writer, []dkimView{v})
				}),
			},
			{
				Name:      "disable",
				Usage:     "stop signing with a key (it stays, as does its DNS record)",
				ArgsUsage: "DOMAIN SELECTOR",
				Action: keyAction(func(s *session, domain, selector string) error {
					return dkimNotFound(s.st.SetDKIMKeyActive(s.ctx, domain, selector, false), domain, selector)
				}),
			},
			{
				Name:      "enable",
				Usage:     "sign new mail with a key again",
				ArgsUsage: "DOMAIN SELECTOR",
				Action: keyAction(func(s *session, domain, selector string) error {
					return dkimNotFound(s.st.SetDKIMKeyActive(s.ctx, domain, selector, true), domain, selector)
				}),
			},
			{
				Name:      "delete",
				Aliases:   []string{"remove"},
				Usage:     "delete a key for good",
				ArgsUsage: "DOMAIN SELECTOR",
				Action: keyAction(func(s *session, domain, selector string) error {
					return dkimNotFound(s.st.DeleteDKIMKey(s.ctx, domain, selector), domain, selector)
				}),
			},
		},
	}
}

// dkimNotFoundError says that a domain has no key with a selector. It
// wraps store.ErrNotFound (exit status 67).
type dkimNotFoundError struct{ domain, selector string }

func (e *dkimNotFoundError) Error() string {
	return fmt.Sprintf("dkim key %s of %s: no such key", e.selector, e.domain)
}

func (e *dkimNotFoundError) Unwrap() error { return store.ErrNotFound }

// dkimNotFound names the key in a not-found error.
func dkimNotFound(err error, domain, selector string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &dkimNotFoundError{domain, selector}
	}
	return err
}

func dkimCreate(s *session) error {
	c := s.c
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	algs, ok := dkimAlgorithms[strings.ToLower(c.String("algorithm"))]
	if !ok {
		return usage(c, "--algorithm %q: want rsa, ed25519 or both", c.String("algorithm"))
	}
	if c.IsSet("bits") && algs[0] != msgauth.AlgRSASHA256 {
		return usage(c, "--bits is the size of an RSA key: use it with --algorithm rsa or both")
	}
	bits := c.Int("bits")
	if bits < msgauth.MinRSABits || bits > msgauth.MaxRSABits {
		return fmt.Errorf("--bits %d: want %d to %d: %w", bits, msgauth.MinRSABits, msgauth.MaxRSABits, errData)
	}
	d, err := s.dir.Domain(s.ctx, c.Args().First())
	if err != nil {
		return err
	}

	// The selectors: the one given (with r or e appended when both
	// algorithms are made), or the default of the month.
	now := time.Now()
	sel := strings.ToLower(c.String("selector"))
	if c.IsSet("selector") {
		if err := msgauth.CheckSelector(sel); err != nil {
			return fmt.Errorf("%w: %w", err, errData)
		}
	}
	selectors := make([]string, len(algs))
	for i, alg := range algs {
		switch {
		case sel == "":
			selectors[i] = msgauth.DefaultSelector(now, alg)
		case len(algs) > 1 && alg == msgauth.AlgRSASHA256:
			selectors[i] = sel + "r"
		case len(algs) > 1:
			selectors[i] = sel + "e"
		default:
			selectors[i] = sel
		}
		if err := msgauth.CheckSelector(selectors[i]); err != nil {
			return fmt.Errorf("%w: %w", err, errData)
		}
	}
	existing, err := s.st.ListDKIMKeys(s.ctx, d.Name)
	if err != nil {
		return err
	}
	for _, k := range existing {
		for _, sel := range selectors {
			if strings.EqualFold(k.Selector, sel) {
				return fmt.Errorf("dkim key %s of %s: %w (choose another with --selector)", sel, d.Name, store.ErrExists)
			}
		}
	}

	views := make([]dkimView, 0, len(algs))
	for i, alg := range algs {
		k, err := msgauth.GenerateDKIMKey(d.Name, selectors[i], alg, bits)
		if err != nil {
			return err
		}
		k.Active = !c.Bool("disabled")
		if _, err := s.st.AddDKIMKey(s.ctx, &k); err != nil {
			return err
		}
		v, err := dkimViewOf(k)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	w := c.App.Writer
	state := "They sign mail from " + d.Name + " from now on: publish the records at once."
	if c.Bool("disabled") {
		state = "They are disabled: publish the records, then run 'userctl dkim enable " + d.Name + " SELECTOR'."
	}
	if _, err := fmt.Fprintf(w, "; DKIM keys of %s: add these records to its DNS zone.\n; %s\n", d.Name, state); err != nil {
		return err
	}
	return writeDKIMRecords(w, views)
}

func dkimList(s *session) error {
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
	keys, err := s.st.ListDKIMKeys(s.ctx, domain)
	if err != nil {
		return err
	}
	views := make([]dkimView, 0, len(keys))
	for _, k := range keys {
		v, err := dkimViewOf(k)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		state := "active"
		if !v.Active {
			state = "disabled"
		}
		rows = append(rows, []string{v.Domain, v.Selector, v.Algorithm, state, timeText(v.Created)})
	}
	return table(w, []string{"DOMAIN", "SELECTOR", "ALGORITHM", "STATE", "CREATED"}, rows)
}

// dkimKey finds the key of domain with selector.
func dkimKey(s *session, domain, selector string) (store.DKIMKey, error) {
	keys, err := s.st.ListDKIMKeys(s.ctx, domain)
	if err != nil {
		return store.DKIMKey{}, err
	}
	for _, k := range keys {
		if strings.EqualFold(k.Selector, selector) {
			return k, nil
		}
	}
	return store.DKIMKey{}, dkimNotFound(store.ErrNotFound, domain, selector)
}

// dkimViewOf describes k with its DNS record.
func dkimViewOf(k store.DKIMKey) (dkimView, error) {
	name, value, err := msgauth.DNSRecord(k)
	if err != nil {
		return dkimView{}, err
	}
	return dkimView{
		Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm, Active: k.Active,
		Created: k.Created.UTC(), DNSName: name, DNSValue: value,
	}, nil
}

// writeDKIMRecords prints the keys' TXT records as zone-file lines, each
// after a comment naming the key.
func writeDKIMRecords(w io.Writer, views []dkimView) error {
	for _, v := range views {
		state := "active"
		if !v.Active {
			state = "disabled"
		}
		if _, err := fmt.Fprintf(w, "; %s, %s, created %s\n%s\n", v.Algorithm, state,
			v.Created.Format(time.RFC3339), msgauth.ZoneRecord(v.DNSName, v.DNSValue)); err != nil {
			return err
		}
	}
	return nil
}
