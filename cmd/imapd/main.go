// Command imapd serves mailboxes over IMAP4rev2 and IMAP4rev1.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("imapd", "serve mailboxes over IMAP4rev2 and IMAP4rev1")
	a.UsageText = "imapd [--config FILE]"
	a.Description = `imapd is the IMAP server. It serves the sockets systemd passes it by name
(imap with STARTTLS, imaps with implicit TLS) or, without socket activation,
the [[imapd.listener]] addresses of the configuration.`
	a.Action = app.NotImplementedAction("serving IMAP", 5)
	app.Main(a)
}
