package mongostore

import (
	"container/list"
	"sync"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

// Cache keeps recently loaded aggregates in memory, as encoded state and
// version, so a load reads only the events after the cached version. It
// is bounded (least recently used entries go first), forgets an aggregate
// whose save lost a race, and is safe for concurrent use. A repository
// uses one only when given it.
type Cache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[uuid.UUID]*list.Element
}

type cacheEntry struct {
	id      uuid.UUID
	version int64
	state   bson.Raw
}

// NewCache returns a cache of at most size aggregates.
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), order: list.New(), items: map[uuid.UUID]*list.Element{}}
}

// Len reports how many aggregates the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *Cache) get(id uuid.UUID) (int64, bson.Raw, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return 0, nil, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cacheEntry)
	return e.version, e.state, true
}

func (c *Cache) put(id uuid.UUID, version int64, state bson.Raw) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		e := el.Value.(*cacheEntry)
		if version >= e.version {
			e.version, e.state = version, state
		}
		c.order.MoveToFront(el)
		return
	}
	c.items[id] = c.order.PushFront(&cacheEntry{id: id, version: version, state: state})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).id)
	}
}

func (c *Cache) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
}
