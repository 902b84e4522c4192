# An example of an administrator's Sieve script for smtpd's rcpt stage
# ([[smtpd.sieve]] in gannet.toml; see smtpd(8)). It runs once for each
# RCPT TO, before the directory looks the recipient up; envelope "to" is
# the recipient.
require ["envelope", "copy", "reject", "environment", "subaddress"];

# Rewrite: mail for the old sales address goes to the team's account.
if envelope :is "to" "sales@old.example.org" {
	redirect "sales@example.org";
}
# Add a recipient: the archive gets a copy of what reaches the board.
elsif envelope :is "to" "board@example.org" {
	redirect :copy "archive@example.org";
}
# Refuse, with a reply the client sees (550 5.7.1), mail for a closed
# address from clients that did not authenticate.
elsif allof (envelope :is "to" "old-list@example.org",
             not envelope :all :matches "auth" "*") {
	reject "This list is closed; write to list@example.org";
}
# Anything else is accepted as it is (the implicit keep).
