-- tieredlog 1.0 -> 1.1 (ALTER EXTENSION tieredlog UPDATE TO '1.1'). Every change here is also in
-- tieredlog--1.1.sql; test/t/020_catalogs.pl checks that a fresh 1.1 and an updated 1.0 have the
-- same objects with the same definitions.
\echo Use "ALTER EXTENSION tieredlog UPDATE TO '1.1'" to load this file. \quit
