// Command sieved serves ManageSieve (RFC 5804), letting users manage their
// Sieve scripts from their mail clients.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("sieved", "serve ManageSieve (RFC 5804)")
	a.UsageText = "sieved [--config FILE]"
	a.Description = `sieved is the ManageSieve server: users upload, check and activate their
Sieve filtering scripts with it. It serves the socket systemd passes it by
name (sieve) or, without socket activation, the [[sieved.listener]]
addresses of the configuration.`
	a.Action = app.NotImplementedAction("serving ManageSieve", 8)
	app.Main(a)
}
