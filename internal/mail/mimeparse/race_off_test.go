//go:build !race

package mimeparse

const raceEnabled = false
