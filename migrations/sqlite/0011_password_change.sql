-- A member whose password was handed out (a new tenant's owner, a member an
-- admin added) must choose their own before using the API with it. Members
-- from before this migration chose theirs already or never signed in.
ALTER TABLE members ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;
