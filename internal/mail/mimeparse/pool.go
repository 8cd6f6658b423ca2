package mimeparse

import (
	"bufio"
	"sync"
)

// The fixed-size buffers of a parse are pooled: a sync parses thousands of
// mostly small messages, and without pools these buffers would be most of
// what each parse allocates. A buffer is always written before it is read,
// so nothing of one message is seen by the next.
var (
	copyBufs    = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	rootReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}
	partReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, mpBufSize) }}
	b64Readers  = sync.Pool{New: func() any { return new(base64Reader) }}
	qpReaders   = sync.Pool{New: func() any { return new(qpReader) }}
)
