//! Requests through `handle` against a real store and a fake [`Calls`] that
//! answers as the services would (or refuses, to drive a rollback).
