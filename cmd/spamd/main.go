// Command spamd is the spam filter as a service: the SPAMD protocol (so
// SpamAssassin's spamc works against it) and the milter protocol.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("spamd", "classify mail as a service: SPAMD protocol and milter")
	a.UsageText = "spamd [--config FILE]"
	a.Description = `spamd offers Gannet's spam filter to other programs: the SPAMD protocol,
so SpamAssassin's spamc (and Gannet's) can ask it about a message, and the
milter protocol, so another MTA can use it. It serves the sockets systemd
passes it by name (spamd, milter) or, without socket activation, the
[[spamd.listener]] addresses of the configuration.`
	a.Action = app.NotImplementedAction("the spam filter service", 6)
	app.Main(a)
}
