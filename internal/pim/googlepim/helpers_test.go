package googlepim_test

import (
	"encoding/json"
	"iter"
	"maps"
)

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func mapValues[K comparable, V any](m map[K]V) iter.Seq[V] { return maps.Values(m) }
