package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gannet/lib/sieve"
)

// SMTPDSieve is an administrator's Sieve script smtpd runs at one stage of
// every session ([[smtpd.sieve]]), as Stalwart's session.<stage>.script:
// it may accept, refuse with a reply, rewrite the recipients and edit the
// header of the message.
type SMTPDSieve struct {
	// Stage is "connect", "ehlo", "mail", "rcpt" or "data".
	Stage string `toml:"stage"`
	// Script is the path of the script, compiled when smtpd starts; a
	// relative path is taken from the configuration file's directory.
	Script string `toml:"script"`
}

// SMTPDSieveStages are the stages a [[smtpd.sieve]] script may run at, in
// the order of a session.
var SMTPDSieveStages = []string{"connect", "ehlo", "mail", "rcpt", "data"}

// MaxSMTPDSieveScripts bounds [[smtpd.sieve]]: every script runs for every
// session (or message, or recipient) at its stage.
const MaxSMTPDSieveScripts = 50

// maxSMTPDSieveFile bounds a script file as read: lib/sieve's default
// script size limit.
const maxSMTPDSieveFile = 1 << 20

// Path returns the script's file: Script, taken from the directory of
// configFile (the configuration's Path) when relative.
func (s *SMTPDSieve) Path(configFile string) string {
	if s.Script == "" || filepath.IsAbs(s.Script) || configFile == "" {
		return s.Script
	}
	return filepath.Join(filepath.Dir(configFile), s.Script)
}

// Compile reads and compiles the script; configFile is the configuration's
// Path, for a relative Script. A bad script's error names the file and
// each problem's line and column.
func (s *SMTPDSieve) Compile(configFile string) (*sieve.Script, error) {
	path := s.Path(configFile)
	switch {
	case path == "":
		return nil, errors.New(`required: the path of a Sieve script, as in script = "/etc/gannet/rcpt.sieve"`)
	case !filepath.IsAbs(path) && configFile == "":
		return nil, fmt.Errorf("%q: must be an absolute path (there is no configuration file to start from)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	src, err := io.ReadAll(io.LimitReader(f, maxSMTPDSieveFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > maxSMTPDSieveFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxSMTPDSieveFile)
	}
	// Stage scripts may also read and change the envelope
	// (vnd.gannet.envelope), which users' scripts may not.
	sc, err := sieve.Compile(src, &sieve.Options{Extensions: append(sieve.Extensions(), "vnd.gannet.envelope")})
	if err != nil {
		var el *sieve.ErrorList
		if errors.As(err, &el) {
			msgs := make([]string, len(*el))
			for i, e := range *el {
				msgs[i] = fmt.Sprintf("%s:%d:%d: %s", path, e.Line, e.Column, e.Msg)
			}
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// validateSMTPDSieve checks [[smtpd.sieve]], compiling every script.
func (c *Config) validateSMTPDSieve(v *validator) {
	list := c.SMTPD.Sieve
	if len(list) > MaxSMTPDSieveScripts {
		v.fail("smtpd.sieve", "%d scripts: at most %d", len(list), MaxSMTPDSieveScripts)
	}
	for i := range list {
		s := &list[i]
		key := indexKey("smtpd.sieve", i)
		if !slices.Contains(SMTPDSieveStages, s.Stage) {
			v.fail(key+".stage", "%q is not one of %s", s.Stage, quoteList(SMTPDSieveStages))
		}
		if _, err := s.Compile(c.Path); err != nil {
			v.fail(key+".script", "%v", err)
		}
	}
}
