package linker

// FreemailDomains are the common free and consumer mail providers: an
// address at one of them says nothing about the company a person works
// for, so no company is ever linked through it, even one that (wrongly)
// lists the domain. Admins add their region's providers per organisation.
//
// Sources: the providers' own sites, the free-mail lists kept by mail
// clients and CRMs; maintained by hand, sorted.
var FreemailDomains = []string{
	"163.com", "126.com", "aim.com", "aol.com", "aol.fr", "aol.de", "att.net", "bell.net", "bigpond.com", "bluewin.ch",
	"btinternet.com", "cantv.net", "charter.net", "comcast.net", "cox.net", "daum.net", "earthlink.net", "email.com",
	"fastmail.com", "fastmail.fm", "free.fr", "freenet.de", "gmail.com", "gmx.at", "gmx.ch", "gmx.com", "gmx.de",
	"gmx.fr", "gmx.net", "googlemail.com", "hey.com", "hotmail.be", "hotmail.ca", "hotmail.co.uk", "hotmail.com",
	"hotmail.de", "hotmail.es", "hotmail.fr", "hotmail.it", "hushmail.com", "icloud.com", "inbox.com", "laposte.net",
	"libero.it", "live.be", "live.ca", "live.co.uk", "live.com", "live.de", "live.fr", "live.it", "live.nl", "mac.com",
	"mail.com", "mail.ru", "me.com", "msn.com", "naver.com", "neuf.fr", "o2.pl", "onet.pl", "orange.fr", "outlook.be",
	"outlook.com", "outlook.de", "outlook.es", "outlook.fr", "outlook.it", "pm.me", "proton.me", "protonmail.ch",
	"protonmail.com", "qq.com", "rambler.ru", "rediffmail.com", "rocketmail.com", "sbcglobal.net", "sfr.fr", "shaw.ca",
	"sky.com", "t-online.de", "telenet.be", "telia.com", "tiscali.it", "tuta.io", "tutanota.com", "verizon.net",
	"virgilio.it", "wanadoo.fr", "web.de", "wp.pl", "yahoo.ca", "yahoo.co.in", "yahoo.co.jp", "yahoo.co.uk", "yahoo.com",
	"yahoo.com.br", "yahoo.de", "yahoo.es", "yahoo.fr", "yahoo.it", "yandex.com", "yandex.ru", "ymail.com", "zoho.com",
	"zohomail.com",
}
