//! A serde `Deserializer` over a [`Node`], so that the typed model (k8s-openapi's containers,
//! volumes and claims) is read from the tree itself: building a `serde_json::Value` for each of
//! them first was a tenth of the model's time on a large render.
//!
//! It reads exactly as `Node::to_json` and serde_json's `Value` deserializer read together (a test
//! compares the two on every container, volume and claim of the fixtures): scalars resolved as
//! Kubernetes resolves them, non-negative integers given as `u64` (serde_json keeps them so),
//! non-finite floats as their text, a repeated key once, at its first place, with its last value
//! (serde_json's `preserve_order` map), and serde_json's own errors, so messages are unchanged.
//! One difference is wanted: a `Quantity` written as a number is read as its text, as Kubernetes
//! reads it (`cpu: 0.50` is "0.50", where the number's own printing would give "0.5").

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::node::{Entry, Kind, Node, Resolved};

pub type Error = serde_json::Error;

/// Deserializes `T` from `node`.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    T::deserialize(NodeDeserializer(node))
}

#[derive(Clone, Copy)]
pub struct NodeDeserializer<'de>(pub &'de Node);

impl<'de> NodeDeserializer<'de> {
    fn resolved(self) -> Option<Resolved<'de>> {
        self.0.as_scalar().map(|s| s.resolve())
    }

    /// A scalar's text as written; "" for a collection.
    fn text(self) -> &'de str {
        self.0.as_scalar().map_or("", |s| s.text)
    }
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.kind {
            Kind::Seq(items) => {
                let mut seq = Items { items: items.iter() };
                let value = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer elements in array")),
                }
            }
            Kind::Map(entries) => {
                let mut map = Entries::new(entries);
                let len = map.remaining;
                let value = visitor.visit_map(&mut map)?;
                match map.remaining {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(len, &"fewer elements in map")),
                }
            }
            Kind::Scalar(_) => match self.resolved() {
                None | Some(Resolved::Null) => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => match u64::try_from(i) {
                    Ok(u) => visitor.visit_u64(u),
                    Err(_) => visitor.visit_i64(i),
                },
                Some(Resolved::Float(f)) if f.is_finite() => visitor.visit_f64(f),
                Some(Resolved::Float(_)) => visitor.visit_borrowed_str(self.text()),
                Some(Resolved::Str(t)) => visitor.visit_borrowed_str(t),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.resolved() {
            Some(Resolved::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        match self.resolved() {
            Some(Resolved::Int(_) | Resolved::Float(_)) if name == "Quantity" => {
                visitor.visit_borrowed_str(self.text())
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

struct Items<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.items.next().map(|n| seed.deserialize(NodeDeserializer(n))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A mapping's entries, each key once (see the module's comment).
struct Entries<'de> {
    entries: &'de [Entry],
    next: usize,
    /// Whether any key is repeated: only then is each key looked for earlier and later.
    repeated: bool,
    remaining: usize,
    value: Option<&'de Node>,
}

impl<'de> Entries<'de> {
    fn new(entries: &'de [Entry]) -> Entries<'de> {
        let first = |i: usize| !entries[..i].iter().any(|e| e.key.same_text(&entries[i].key));
        let distinct = (0..entries.len()).filter(|&i| first(i)).count();
        Entries { entries, next: 0, repeated: distinct != entries.len(), remaining: distinct, value: None }
    }
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        while let Some(e) = self.entries.get(self.next) {
            let i = self.next;
            self.next += 1;
            if self.repeated && self.entries[..i].iter().any(|x| x.key.same_text(&e.key)) {
                continue;
            }
            let last = if self.repeated { self.entries.iter().rfind(|x| x.key.same_text(&e.key)) } else { None };
            self.value = Some(&last.unwrap_or(e).value);
            self.remaining -= 1;
            return seed.deserialize(BorrowedStrDeserializer::new(e.key.text())).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(NodeDeserializer(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}
