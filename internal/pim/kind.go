package pim

// CollectionKind is what a collection holds: contacts, events or tasks.
// Its value is the spelling the API shows and the database stores as a
// collection's kind (store.PIMCollection.Kind), so it must not change.
type CollectionKind string

const (
	Contacts CollectionKind = "contacts" // an address book
	Events   CollectionKind = "events"   // a calendar, for its events
	Tasks    CollectionKind = "tasks"    // a task list (or a calendar, for its tasks)
)

// Valid reports whether k is one of the three kinds.
func (k CollectionKind) Valid() bool { return k == Contacts || k == Events || k == Tasks }

// RecordType is what one item of the kind is: the CRM record it maps to.
func (k CollectionKind) RecordType() RecordType {
	switch k {
	case Contacts:
		return RecordContact
	case Tasks:
		return RecordTask
	}
	return RecordEvent
}

// RecordType is what one item is: a contact, an event or a task. Its value
// is the spelling a mapping stores (store.PIMItem.RecordType, pim.RecordContact
// and its siblings) and the API shows, so it must not change.
type RecordType string

const (
	RecordContact RecordType = "contact"
	RecordEvent   RecordType = "event"
	RecordTask    RecordType = "task"
)
