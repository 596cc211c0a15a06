-- Each UTC day's figures per queue (GET /api/v1/queues: offered, answered, abandoned and
-- the service level of today's contacts), kept up to date as events are appended instead
-- of counted again from the day's interactions on every request. A projection: an
-- interaction counts on the day it started, in the queue its record names now, exactly as
-- counting its record would.
CREATE TABLE queue_days (
    day_ns    INTEGER NOT NULL,              -- UTC midnight, unix nanoseconds
    queue     TEXT    NOT NULL,
    offered   INTEGER NOT NULL DEFAULT 0,    -- interactions with this queue on their record
    answered  INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,    -- ended unanswered: abandoned or caller hangup
    PRIMARY KEY (day_ns, queue)
) WITHOUT ROWID;
-- The answered ones by their wait (arrival to answer) rounded up to whole seconds, so that
-- "answered within T seconds" is the sum over wait_s <= T for whatever target a queue has
-- now (targets are whole seconds).
CREATE TABLE queue_day_waits (
    day_ns   INTEGER NOT NULL,
    queue    TEXT    NOT NULL,
    wait_s   INTEGER NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, queue, wait_s)
) WITHOUT ROWID;
-- Pages of GET /api/v1/interactions go by (started_ns, id); an agent's by agent first.
DROP INDEX interactions_by_start;
CREATE INDEX interactions_by_start ON interactions (started_ns, id);
CREATE INDEX interactions_by_agent ON interactions (agent, started_ns, id) WHERE agent IS NOT NULL;
