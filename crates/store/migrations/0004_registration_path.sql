ALTER TABLE registrations ADD COLUMN path TEXT;
