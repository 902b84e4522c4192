// Command queued works the mail queue: local delivery into mailboxes,
// remote delivery to other servers, retries and delivery status
// notifications.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("queued", "work the mail queue: local and remote delivery, retries, DSNs")
	a.UsageText = "queued [--config FILE]"
	a.Description = `queued is the daemon that delivers what smtpd queued: into local
mailboxes (through Sieve and the spam filter), or to other servers (MX
lookup, STARTTLS, DKIM signing). It retries on the [queued] retry_schedule,
warns senders of delays and bounces what it cannot deliver.`
	a.Action = app.NotImplementedAction("working the queue", 4)
	app.Main(a)
}
