package spam

import "strings"

// freemailDomains are providers where anyone gets an address for free: a
// Reply-To there under a From elsewhere is a classic of advance-fee fraud.
var freemailDomains = map[string]bool{}

func init() {
	for _, d := range strings.Fields(`
		gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.es yahoo.it
		yahoo.co.in yahoo.com.br yahoo.co.jp ymail.com rocketmail.com hotmail.com hotmail.co.uk
		hotmail.fr hotmail.de hotmail.it hotmail.es outlook.com outlook.fr outlook.de live.com
		live.co.uk live.fr msn.com aol.com aim.com icloud.com me.com mac.com gmx.com gmx.net
		gmx.de gmx.at gmx.fr web.de mail.com email.com usa.com post.com mail.ru inbox.ru
		list.ru bk.ru yandex.ru yandex.com ya.ru rambler.ru protonmail.com proton.me pm.me
		tutanota.com tuta.io zoho.com zohomail.com qq.com 163.com 126.com sina.com sohu.com
		yeah.net naver.com hanmail.net daum.net rediffmail.com libero.it virgilio.it tiscali.it
		laposte.net orange.fr wanadoo.fr free.fr sfr.fr t-online.de freenet.de seznam.cz
		o2.pl wp.pl interia.pl onet.pl excite.com lycos.com netscape.net juno.com netzero.net
		earthlink.net hushmail.com fastmail.com fastmail.fm mail2world.com rediff.com
		uol.com.br bol.com.br terra.com.br ig.com.br btinternet.com sky.com ntlworld.com
		blueyonder.co.uk talktalk.net shaw.ca rogers.com sympatico.ca bigpond.com optusnet.com.au
		xtra.co.nz mailinator.com guerrillamail.com yopmail.com sharklasers.com
	`) {
		freemailDomains[d] = true
	}
}

// isFreemail reports whether an address or domain is at a free mail
// provider.
func isFreemail(s string) bool {
	s = strings.ToLower(s)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return freemailDomains[s]
}
