// Command acmectl gets TLS certificates from an ACME certificate authority
// (RFC 8555) such as Let's Encrypt, keeps them in the store for the daemons,
// and renews them from a timer.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

// letsEncrypt is the default ACME directory.
const letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

func directoryFlag() cli.Flag {
	return &cli.StringFlag{Name: "directory", Usage: "the ACME directory `URL` of the certificate authority", Value: letsEncrypt}
}

func main() {
	a := app.NewApp("acmectl", "get and renew TLS certificates over ACME")
	a.Description = `acmectl registers an ACME account (RFC 8555) and gets certificates for the
server's names, answering http-01 challenges through jmapd or tls-alpn-01
challenges through the daemons' TLS listeners. Certificates go into the
store, where every daemon picks them up without a restart. The
gannet-acme-renew.timer systemd unit runs "acmectl renew" daily.`
	const issue = 7
	a.Commands = []*cli.Command{
		{
			Name:  "register",
			Usage: "create (or find) the ACME account of this server",
			Flags: []cli.Flag{
				directoryFlag(),
				&cli.StringFlag{Name: "email", Usage: "the contact `ADDRESS` for expiry and policy notices", Required: true},
				&cli.BoolFlag{Name: "agree-tos", Usage: "agree to the certificate authority's terms of service"},
			},
			Action: app.NotImplementedAction("ACME accounts", issue),
		},
		{
			Name:      "issue",
			Usage:     "get a certificate for domains (the first names it)",
			ArgsUsage: "DOMAIN...",
			Flags: []cli.Flag{
				directoryFlag(),
				&cli.StringFlag{Name: "challenge", Usage: "answer challenges of `TYPE` http-01 or tls-alpn-01", Value: "http-01"},
			},
			Action: app.NotImplementedAction("issuing certificates", issue),
		},
		{
			Name:      "renew",
			Usage:     "renew the certificates that expire soon (all, or those named)",
			ArgsUsage: "[NAME...]",
			Flags: []cli.Flag{
				directoryFlag(),
				&cli.IntFlag{Name: "days", Usage: "renew certificates expiring within `N` days", Value: 30},
			},
			Action: app.NotImplementedAction("renewing certificates", issue),
		},
		{
			Name:   "list",
			Usage:  "list the certificates in the store with their names and expiry",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: app.NotImplementedAction("listing certificates", issue),
		},
	}
	app.Main(a)
}
