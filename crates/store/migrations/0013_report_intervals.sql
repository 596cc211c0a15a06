-- Each queue's figures per 15-minute interval (GET /api/v1/reports/intervals and its CSV),
-- and each agent's contacts handled per UTC day (GET /api/v1/agents): projections kept as
-- events are appended, so a day's report reads a few hundred rows instead of every
-- interaction of the day. An interaction counts in the interval its start falls in, in the
-- queue its record names now, exactly as counting its record would.
CREATE TABLE queue_intervals (
    start_ns  INTEGER NOT NULL,              -- interval start, unix nanoseconds (UTC)
    queue     TEXT    NOT NULL,
    offered   INTEGER NOT NULL DEFAULT 0,
    answered  INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,    -- ended unanswered: abandoned or caller hangup
    wait_ns   INTEGER NOT NULL DEFAULT 0,    -- sum of the answered ones' waits
    talked    INTEGER NOT NULL DEFAULT 0,    -- answered and ended
    talk_ns   INTEGER NOT NULL DEFAULT 0,    -- sum of their answer-to-end times
    PRIMARY KEY (start_ns, queue)
) WITHOUT ROWID;
-- The answered ones by wait rounded up to whole seconds, as queue_day_waits, per interval.
CREATE TABLE queue_interval_waits (
    start_ns INTEGER NOT NULL,
    queue    TEXT    NOT NULL,
    wait_s   INTEGER NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue, wait_s)
) WITHOUT ROWID;
-- Interactions answered by each agent, by the UTC day they started.
CREATE TABLE agent_days (
    day_ns  INTEGER NOT NULL,
    agent   TEXT    NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, agent)
) WITHOUT ROWID;
-- Filled from the interaction records already projected, as the projection code counts them
-- (interval and day starts aligned on UTC midnight, waits rounded up to whole seconds), so
-- an upgrade does not replay the whole log to build them.
INSERT INTO queue_intervals (start_ns, queue, offered, answered, abandoned, wait_ns, talked, talk_ns)
SELECT started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000 AS s, queue,
       COUNT(*),
       SUM(CASE WHEN answered_ns IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NULL AND ended_ns IS NOT NULL
                     AND end_reason IN ('abandoned', 'caller_hangup') THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL THEN answered_ns - started_ns ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL
                THEN ended_ns - answered_ns ELSE 0 END)
FROM interactions WHERE queue IS NOT NULL
GROUP BY started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000, queue;
INSERT INTO queue_interval_waits (start_ns, queue, wait_s, answered)
SELECT s, queue, w, COUNT(*) FROM (
    SELECT started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000 AS s, queue,
           CASE WHEN answered_ns - started_ns <= 0 THEN 0
                ELSE (answered_ns - started_ns - 1) / 1000000000 + 1 END AS w
    FROM interactions WHERE queue IS NOT NULL AND answered_ns IS NOT NULL
) AS answered_ones
GROUP BY s, queue, w;
INSERT INTO agent_days (day_ns, agent, handled)
SELECT started_ns - ((started_ns % 86400000000000) + 86400000000000) % 86400000000000 AS d, agent,
       COUNT(*)
FROM interactions WHERE answered_ns IS NOT NULL AND agent IS NOT NULL
GROUP BY started_ns - ((started_ns % 86400000000000) + 86400000000000) % 86400000000000, agent;
