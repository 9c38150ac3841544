-- reviews.topics: what a review is about (bias, health), so its note goes into the journal with those tags; a
-- review recorded before this column existed was about bias (NULL reads as ['bias']).
ALTER TABLE reviews ADD COLUMN topics VARCHAR[];
