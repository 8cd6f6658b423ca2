//go:build race

package mimeparse

const raceEnabled = true
