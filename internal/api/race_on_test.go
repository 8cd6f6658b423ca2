//go:build race

package api_test

// raceEnabled: timings mean nothing under the race detector.
const raceEnabled = true
