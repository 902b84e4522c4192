// Command acmectl gets TLS certificates from an ACME certificate authority
// (RFC 8555) such as Let's Encrypt, keeps them in the store for the daemons,
// and renews them from a timer. The work is done by lib/acme; this program
// parses the command line and formats the output.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/acme"
	"gannet/lib/app"
	"gannet/lib/store"
)

func main() {
	a := app.NewApp("acmectl", "get and renew TLS certificates over ACME")
	a.UsageText = "acmectl [--config FILE] COMMAND [OPTIONS] [ARGS]"
	a.Description = `acmectl registers an ACME account (RFC 8555) and gets certificates for the
server's names, answering http-01 challenges itself on acme.http01_address,
tls-alpn-01 challenges (RFC 8737) through the daemons' TLS listeners, or
dns-01 challenges with an RFC 2136 dynamic update of acme.dns01_server.
Certificates go into the store, where every daemon picks them up by name
without a restart. The gannet-acme-renew.timer systemd unit runs
"acmectl renew" daily.

Exit status: 0 success, 1 failure, 2 bad usage, 78 configuration error.`
	a.Commands = []*cli.Command{
		{
			Name:  "account",
			Usage: "manage the ACME account of this server",
			Subcommands: []*cli.Command{{
				Name:  "create",
				Usage: "register the account with the certificate authority (or find it again), agreeing to its terms of service",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "email", Usage: "the contact `ADDRESS` for expiry and policy notices (default acme.email)"},
					&cli.StringFlag{Name: "eab-kid", Usage: "the External Account Binding key `ID` the certificate authority gave"},
					&cli.StringFlag{Name: "eab-hmac", Usage: "the External Account Binding MAC `KEY` (base64url) the certificate authority gave"},
				},
				Action: accountCreate,
			}},
		},
		{
			Name:      "issue",
			Usage:     "get a certificate for domains (the first names it)",
			ArgsUsage: "DOMAIN...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "challenge", Usage: "answer challenges of `TYPE` http-01, tls-alpn-01 or dns-01 (default acme.challenge)"},
			},
			Action: issue,
		},
		{
			Name:      "renew",
			Usage:     "renew the certificates that are due (acme.renew_fraction of their lifetime passed): all, or those named",
			ArgsUsage: "[NAME...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Usage: "renew even certificates that are not due"},
			},
			Action: renew,
		},
		{
			Name:   "list",
			Usage:  "list the certificates in the store: name, expiry, renewal date, domains",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: list,
		},
		{
			Name:      "show",
			Usage:     "show one certificate of the store",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				&cli.BoolFlag{Name: "pem", Usage: "print the certificate chain, PEM"},
			},
			Action: show,
		},
	}
	os.Args = app.Intersperse(a, os.Args)
	app.Main(a)
}

// manager loads the configuration and opens the store.
func manager(c *cli.Context) (*acme.Manager, store.Store, func(), error) {
	env, err := app.Load(c)
	if err != nil {
		return nil, nil, nil, app.ConfigFailure("acmectl", err, 78)
	}
	st, err := env.OpenStore(c.Context)
	if err != nil {
		env.Close()
		return nil, nil, nil, err
	}
	m, err := acme.New(env.Config, st, env.Log)
	if err != nil {
		env.Close()
		return nil, nil, nil, err
	}
	return m, st, func() { env.Close() }, nil
}

func usage(c *cli.Context, msg string) error {
	return cli.Exit(fmt.Sprintf("acmectl: %s\nRun '%s --help' for usage.", msg, c.Command.HelpName), app.ExitUsage)
}

func accountCreate(c *cli.Context) error {
	if c.NArg() > 0 {
		return usage(c, "account create takes no arguments")
	}
	var eab *acme.EAB
	switch kid, hmac := c.String("eab-kid"), c.String("eab-hmac"); {
	case kid != "" && hmac != "":
		eab = &acme.EAB{KID: kid, HMAC: hmac}
	case kid != "" || hmac != "":
		return usage(c, "--eab-kid and --eab-hmac go together")
	}
	m, _, done, err := manager(c)
	if err != nil {
		return err
	}
	defer done()
	email := c.String("email")
	if email == "" {
		email = m.Config.Email
	}
	info, tos, err := m.CreateAccount(c.Context, email, eab)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "account %s\n", info.URL)
	if tos != "" {
		fmt.Fprintf(c.App.Writer, "agreed to the terms of service: %s\n", tos)
	}
	return nil
}

func issue(c *cli.Context) error {
	if c.NArg() == 0 {
		return usage(c, "issue needs at least one DOMAIN")
	}
	m, _, done, err := manager(c)
	if err != nil {
		return err
	}
	defer done()
	cert, err := m.Issue(c.Context, c.Args().Slice(), c.String("challenge"))
	if err != nil {
		return err
	}
	st, err := m.Describe(cert)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "issued %s: %s, valid until %s, renewal due %s\n", st.Name,
		strings.Join(st.Domains, " "), st.NotAfter.UTC().Format(time.RFC3339), st.RenewAt.UTC().Format(time.RFC3339))
	return nil
}

func renew(c *cli.Context) error {
	m, _, done, err := manager(c)
	if err != nil {
		return err
	}
	defer done()
	rs, err := m.Renew(c.Context, c.Args().Slice(), c.Bool("force"))
	for _, r := range rs {
		switch {
		case r.Err != nil:
			fmt.Fprintf(c.App.Writer, "%s: renewal failed: %v\n", r.Name, r.Err)
		case r.Renewed:
			fmt.Fprintf(c.App.Writer, "%s: renewed, valid until %s\n", r.Name, r.Status.NotAfter.UTC().Format(time.RFC3339))
		default:
			fmt.Fprintf(c.App.Writer, "%s: not due until %s\n", r.Name, r.Status.RenewAt.UTC().Format(time.RFC3339))
		}
	}
	if len(rs) == 0 && err == nil {
		fmt.Fprintln(c.App.Writer, "no certificates in the store")
	}
	return err
}

func list(c *cli.Context) error {
	if c.NArg() > 0 {
		return usage(c, "list takes no arguments")
	}
	m, _, done, err := manager(c)
	if err != nil {
		return err
	}
	defer done()
	sts, err := m.List(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if sts == nil {
			sts = []acme.Status{}
		}
		return printJSON(c, sts)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNOT AFTER\tRENEW AT\tDOMAINS")
	for _, s := range sts {
		state := ""
		switch {
		case s.Expired:
			state = " (expired)"
		case s.Due:
			state = " (due)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\n", s.Name, s.NotAfter.UTC().Format(time.RFC3339), s.RenewAt.UTC().Format(time.RFC3339), state, strings.Join(s.Domains, " "))
	}
	return tw.Flush()
}

func show(c *cli.Context) error {
	if c.NArg() != 1 {
		return usage(c, "show needs one NAME")
	}
	m, st, done, err := manager(c)
	if err != nil {
		return err
	}
	defer done()
	cert, err := st.GetCertificate(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool("pem") {
		_, err := c.App.Writer.Write(cert.CertPEM)
		return err
	}
	s, err := m.Describe(cert)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, s)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "name:       %s\n", s.Name)
	fmt.Fprintf(w, "domains:    %s\n", strings.Join(s.Domains, " "))
	fmt.Fprintf(w, "issuer:     %s\n", s.Issuer)
	fmt.Fprintf(w, "serial:     %s\n", s.Serial)
	fmt.Fprintf(w, "not before: %s\n", s.NotBefore.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "not after:  %s\n", s.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "renew at:   %s\n", s.RenewAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "stored:     %s\n", s.Updated.UTC().Format(time.RFC3339))
	return nil
}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
