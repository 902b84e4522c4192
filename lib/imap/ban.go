package imap

// reportBad tells Server.OnProtocolError of a BAD answer given before
// login: a client that has not logged in and keeps sending what is not
// IMAP is a scanner or worse (lib/ban counts these against its address).
func (s *session) reportBad() {
	if s.state == stateNotAuth && s.srv.OnProtocolError != nil {
		s.srv.OnProtocolError(s.raw.RemoteAddr())
	}
}
