// Package flows holds the web app's browser tests: each flow of the help
// pages walked end to end in a real Chromium against the real binary
// (package webtest), Dovecot, Radicale and the Microsoft/Google fakes, in
// each of the app's languages at least once. Only its tests have code.
package flows
