//! [`Environ`]: an ordered set of CGI variables whose names and values are bytes.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use crate::error::EnvironError;

/// Where the bytes of one name or value live.
///
/// `store` is the index of a wire segment, or [`OWNED`] for the environ's own buffer.
/// Offsets are `u32`: no variable set either protocol can carry comes near 4 GiB, and
/// small slots keep the index at 24 bytes per variable.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot {
    store: u32,
    start: u32,
    len: u32,
}

const OWNED: u32 = u32::MAX;

/// The most copied bytes an environ holds: a slot's offsets are 32-bit.
const MAX_OWNED_BYTES: usize = u32::MAX as usize;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    name: Slot,
    value: Slot,
}

/// Running totals over the entries, kept as variables are copied in, replaced and removed,
/// so that an encoder learns its output's size (and that every field fits) without a pass
/// over the variables. A decoder's variables (indexed in a wire segment) are not counted
/// as they are pushed, which would slow every decode (see `Environ::uncounted`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Sizes {
    /// Bytes of every name and value (u64: slots of one segment may overlap, so on a
    /// 32-bit target the sum can pass `usize`).
    content: u64,
    /// Names and values of 128 bytes or more: those take a 4-byte FastCGI length.
    long_fields: u64,
    /// Variables whose name is empty (uwsgi cannot carry them).
    empty_names: u64,
}

impl Sizes {
    fn of(entries: &[Entry]) -> Sizes {
        let mut sizes = Sizes::default();
        for entry in entries {
            sizes.add(entry);
        }
        sizes
    }

    #[inline]
    fn add(&mut self, entry: &Entry) {
        for slot in [entry.name, entry.value] {
            self.content += u64::from(slot.len);
            self.long_fields += u64::from(slot.len >= 128);
        }
        self.empty_names += u64::from(entry.name.len == 0);
    }

    #[inline]
    fn sub(&mut self, entry: &Entry) {
        for slot in [entry.name, entry.value] {
            self.content -= u64::from(slot.len);
            self.long_fields -= u64::from(slot.len >= 128);
        }
        self.empty_names -= u64::from(entry.name.len == 0);
    }
}

/// The byte stores of an environ, borrowed once so that resolving a slot is a couple of
/// comparisons and one bounds-checked slice, with no `Option` to unwrap per variable.
#[derive(Clone, Copy)]
struct Stores<'a> {
    first: &'a [u8],
    more: &'a [Bytes],
    owned: &'a [u8],
}

impl<'a> Stores<'a> {
    #[inline]
    fn bytes(self, slot: Slot) -> &'a [u8] {
        let store: &'a [u8] = match slot.store {
            0 => self.first,
            OWNED => self.owned,
            n => self.more.get(n as usize - 1).map_or(&[][..], |b| &b[..]),
        };
        let start = slot.start as usize;
        // Slots are checked when they are made, so the fallback is never taken.
        store
            .get(start..start + slot.len as usize)
            .unwrap_or_default()
    }
}

/// Identifies a wire buffer added with [`Environ::add_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentId(u32);

/// An ordered set of CGI/1.1 variables: the environ that FastCGI PARAMS and uwsgi vars both
/// carry.
///
/// Names and values are raw bytes. CGI values may hold any byte, and a gateway must pass them
/// on unchanged, so nothing here assumes UTF-8.
///
/// # Zero-copy
///
/// A decoder hands the received buffer to [`Environ::add_segment`] and then records each
/// variable as two ranges into it with [`Environ::push_segment_var`]. No name or value is
/// copied and no reference count is touched per variable: the environ holds the segment
/// `Bytes` once and an index of offsets. Variables added with [`Environ::insert`] or
/// [`Environ::append`] are copied into a buffer the environ owns.
///
/// # Duplicates
///
/// A decoded environ keeps every variable the peer sent, in order, duplicates included.
/// [`Environ::get`] answers with the **last** value for a name, as PHP-FPM and uWSGI do.
/// [`Environ::insert`] leaves exactly one variable of that name.
///
/// # Example
///
/// ```
/// use cgi_env::Environ;
///
/// let mut env = Environ::new();
/// env.insert("REQUEST_METHOD", "GET");
/// env.insert("QUERY_STRING", "a=1");
/// env.insert("REQUEST_METHOD", "POST");
/// assert_eq!(env.get("REQUEST_METHOD"), Some(&b"POST"[..]));
/// assert_eq!(env.len(), 2);
/// // 1-byte lengths for both pairs in FastCGI; two u16 lengths per pair in uwsgi.
/// assert_eq!(env.fastcgi_encoded_len(), 2 + 14 + 4 + 2 + 12 + 3);
/// assert_eq!(env.uwsgi_encoded_len(), 4 + 14 + 4 + 4 + 12 + 3);
/// ```
#[derive(Clone, Default)]
pub struct Environ {
    /// The first wire segment, kept apart so that the common case (one received buffer)
    /// costs no allocation for the segment list.
    first: Option<Bytes>,
    more: Vec<Bytes>,
    owned: Vec<u8>,
    entries: Vec<Entry>,
    sizes: Sizes,
    /// Whether variables were indexed in a segment since `sizes` was last counted: then
    /// `sizes` is not maintained, and the size accessors count.
    uncounted: bool,
}

impl Environ {
    /// An empty environ.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty environ with room for `vars` variables in its index.
    #[inline]
    pub fn with_capacity(vars: usize) -> Self {
        Environ {
            entries: Vec::with_capacity(vars),
            ..Self::default()
        }
    }

    /// Makes room for at least `bytes` more bytes of copied names and values, so that a
    /// builder that estimated them first grows the storage once.
    #[inline]
    pub(crate) fn reserve_bytes(&mut self, bytes: usize) {
        self.owned.reserve(bytes);
    }

    /// Makes room in the index for at least `additional` more variables, so that a decoder
    /// that counted them first grows it once.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Adds a received buffer whose bytes variables will point into, without copying it.
    ///
    /// # Errors
    /// [`EnvironError::TooLarge`] when the buffer is 4 GiB or more, or when more than
    /// `u32::MAX - 1` segments were added.
    #[inline]
    pub fn add_segment(&mut self, bytes: Bytes) -> Result<SegmentId, EnvironError> {
        if u32::try_from(bytes.len()).is_err() {
            return Err(EnvironError::TooLarge);
        }
        if self.first.is_none() {
            self.first = Some(bytes);
            return Ok(SegmentId(0));
        }
        let id = u32::try_from(self.more.len() + 1)
            .ok()
            .filter(|&id| id != OWNED)
            .ok_or(EnvironError::TooLarge)?;
        self.more.push(bytes);
        Ok(SegmentId(id))
    }

    /// Appends a variable whose name and value are ranges of a segment added with
    /// [`Environ::add_segment`]. Nothing is copied.
    ///
    /// # Errors
    /// [`EnvironError::UnknownSegment`] for a segment this environ does not hold, and
    /// [`EnvironError::RangeOutOfBounds`] when a range is reversed or runs past the segment.
    #[inline]
    pub fn push_segment_var(
        &mut self,
        segment: SegmentId,
        name: Range<usize>,
        value: Range<usize>,
    ) -> Result<(), EnvironError> {
        let len = self
            .segment(segment.0)
            .ok_or(EnvironError::UnknownSegment)?
            .len();
        let name = checked_slot(segment.0, &name, len)?;
        let value = checked_slot(segment.0, &value, len)?;
        self.entries.push(Entry { name, value });
        self.uncounted = true;
        Ok(())
    }

    /// [`Environ::push_segment_var`] for a batch of variables of one segment: what a
    /// decoder that noted where a block's variables lie calls once. The ranges are all
    /// checked first, then the index grows once and is filled without a check per
    /// variable.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use cgi_env::Environ;
    ///
    /// let mut env = Environ::new();
    /// let segment = env.add_segment(Bytes::from_static(b"AxBy")).unwrap();
    /// env.extend_segment_vars(segment, [(0..1, 1..2), (2..3, 3..4)]).unwrap();
    /// assert_eq!(env.get("B"), Some(&b"y"[..]));
    /// // One range out of bounds: nothing of the batch is added.
    /// assert!(env.extend_segment_vars(segment, [(0..1, 1..2), (3..9, 0..0)]).is_err());
    /// assert_eq!(env.len(), 2);
    /// ```
    ///
    /// The ranges are read twice, checked and then stored, so `vars` should give the same
    /// ranges each time it is cloned (as an iterator over a slice does).
    ///
    /// # Errors
    /// As [`Environ::push_segment_var`]; then none of these variables is added.
    #[inline]
    pub fn extend_segment_vars<I>(
        &mut self,
        segment: SegmentId,
        vars: I,
    ) -> Result<(), EnvironError>
    where
        I: IntoIterator<Item = (Range<usize>, Range<usize>)>,
        I::IntoIter: Clone,
    {
        let len = self
            .segment(segment.0)
            .ok_or(EnvironError::UnknownSegment)?
            .len();
        let vars = vars.into_iter();
        for (name, value) in vars.clone() {
            checked_slot(segment.0, &name, len)?;
            checked_slot(segment.0, &value, len)?;
        }
        // Checked above: every range lies in the segment, whose length fits a u32. (An
        // iterator whose clone yields other ranges than the first pass gets slots that
        // resolve to other bytes of the segment or to none, never a panic.)
        let slot = |range: Range<usize>| Slot {
            store: segment.0,
            start: range.start as u32,
            len: range.end.saturating_sub(range.start) as u32,
        };
        self.entries.extend(vars.map(|(name, value)| Entry {
            name: slot(name),
            value: slot(value),
        }));
        self.uncounted = true;
        Ok(())
    }

    /// Appends a variable, keeping any earlier variable of the same name (duplicates are
    /// legal on the wire; [`Environ::get`] then answers with the last one). The bytes are
    /// copied into the environ.
    ///
    /// # Panics
    /// When the environ's copied bytes would pass 4 GiB, as `Vec::push` does on capacity
    /// overflow; [`Environ::try_append`] returns an error instead.
    pub fn append(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        if let Err(error) = self.try_append(name, value) {
            panic!("Environ::append: {error}");
        }
    }

    /// As [`Environ::append`], refusing to pass the 4 GiB of copied bytes an environ
    /// indexes. Nothing is added when it fails.
    ///
    /// # Errors
    /// [`EnvironError::TooLarge`].
    pub fn try_append(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), EnvironError> {
        let (name, value) = (name.as_ref(), value.as_ref());
        self.compact_if_sparse();
        self.check_owned_room(name.len() + value.len())?;
        let name = self.own(name);
        let value = self.own(value);
        self.push_entry(Entry { name, value });
        Ok(())
    }

    /// Appends a variable that `build` writes straight after the environ's copied bytes
    /// (given to it): its name, then its value. `build` returns the name's length, or
    /// `None` to add nothing; what it wrote is dropped then, and on an error. A gateway's
    /// variables so cost no buffer of their own and no second copy.
    ///
    /// # Panics
    /// As [`Environ::append`].
    pub(crate) fn append_built<E>(
        &mut self,
        build: impl FnOnce(&mut Vec<u8>) -> Result<Option<usize>, E>,
    ) -> Result<(), E> {
        self.compact_if_sparse();
        let start = self.owned.len();
        let name_len = match build(&mut self.owned) {
            Ok(Some(name_len)) => name_len,
            Ok(None) => {
                self.owned.truncate(start);
                return Ok(());
            }
            Err(error) => {
                self.owned.truncate(start);
                return Err(error);
            }
        };
        let written = self.owned.len() - start;
        if self.owned.len() > MAX_OWNED_BYTES {
            self.owned.truncate(start);
            panic!("Environ::append: {}", EnvironError::TooLarge);
        }
        let name_len = name_len.min(written);
        let name = Slot {
            store: OWNED,
            start: start as u32,
            len: name_len as u32,
        };
        let value = Slot {
            store: OWNED,
            start: (start + name_len) as u32,
            len: (written - name_len) as u32,
        };
        self.push_entry(Entry { name, value });
        Ok(())
    }

    /// Sets `name` to `value`. The first variable of that name keeps its position and takes
    /// the new value, later duplicates are removed; a new name goes to the end.
    ///
    /// # Panics
    /// As [`Environ::append`]; [`Environ::try_insert`] returns an error instead.
    pub fn insert(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        if let Err(error) = self.try_insert(name, value) {
            panic!("Environ::insert: {error}");
        }
    }

    /// As [`Environ::insert`], refusing to pass the 4 GiB of copied bytes an environ
    /// indexes. Nothing is changed when it fails.
    ///
    /// # Errors
    /// [`EnvironError::TooLarge`].
    pub fn try_insert(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), EnvironError> {
        let name = name.as_ref();
        let value = value.as_ref();
        match self.position(name) {
            Some(first) => {
                self.compact_if_sparse();
                self.check_owned_room(value.len())?;
                let value = self.own(value);
                if let Some(entry) = self.entries.get_mut(first) {
                    if !self.uncounted {
                        self.sizes.sub(entry);
                    }
                    entry.value = value;
                    if !self.uncounted {
                        self.sizes.add(entry);
                    }
                }
                self.remove_after(first, name);
                Ok(())
            }
            None => self.try_append(name, value),
        }
    }

    /// Removes every variable named `name` and returns the last value it had.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        let name = name.as_ref();
        let last = self.get(name).map(<[u8]>::to_vec);
        if last.is_some() {
            let mut entries = std::mem::take(&mut self.entries);
            entries.retain(|entry| self.slot_bytes(entry.name) != name);
            self.recount(entries);
        }
        last
    }

    /// The value of the last variable named `name` (names compare byte for byte).
    #[inline]
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        let stores = self.stores();
        // Comparing lengths first skips resolving most names.
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.name.len as usize == name.len() && stores.bytes(entry.name) == name)
            .map(|entry| stores.bytes(entry.value))
    }

    /// The value of `name` as UTF-8 text, or `None` when it is absent or not UTF-8.
    #[inline]
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether a variable named `name` is present (possibly with an empty value).
    #[inline]
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.position(name.as_ref()).is_some()
    }

    /// The number of variables, duplicates counted.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no variables.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every variable and releases the wire segments.
    pub fn clear(&mut self) {
        self.first = None;
        self.more.clear();
        self.owned.clear();
        self.entries.clear();
        self.sizes = Sizes::default();
        self.uncounted = false;
    }

    /// The variables in order, as `(name, value)` byte slices.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            stores: self.stores(),
            entries: self.entries.iter(),
        }
    }

    /// Each variable in order, with its name and value in one slice when they lie next to
    /// each other in the environ's storage, as [`Environ::append`] and a FastCGI decoder
    /// leave them. An encoder that writes a name right before its value (FastCGI does)
    /// then copies once per variable instead of twice.
    ///
    /// ```
    /// use cgi_env::{Environ, PairBytes};
    ///
    /// let mut env = Environ::new();
    /// env.append("REQUEST_METHOD", "GET");
    /// let (name_len, value_len, bytes) = env.pairs().next().unwrap();
    /// assert_eq!((name_len, value_len), (14, 3));
    /// assert!(matches!(bytes, PairBytes::Joined(b) if b == b"REQUEST_METHODGET"));
    /// ```
    #[inline]
    pub fn pairs(&self) -> Pairs<'_> {
        Pairs {
            stores: self.stores(),
            entries: self.entries.iter(),
        }
    }

    /// The byte lengths of each variable's name and value, in order, without touching the
    /// bytes themselves: what an encoder needs to size and check its output.
    #[inline]
    pub fn lengths(&self) -> impl ExactSizeIterator<Item = (usize, usize)> + Clone + '_ {
        self.entries
            .iter()
            .map(|e| (e.name.len as usize, e.value.len as usize))
    }

    /// The variable at `index` in order, duplicates counted.
    #[inline]
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.entries
            .get(index)
            .map(|entry| (self.slot_bytes(entry.name), self.slot_bytes(entry.value)))
    }

    /// The value of the variable at `index` as [`Bytes`]: a slice of the wire segment it
    /// was decoded from, sharing that buffer (no copy), or a copy of a value the environ
    /// holds itself. An `http::HeaderValue` made from it with `from_maybe_shared` copies
    /// nothing either.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use cgi_env::Environ;
    ///
    /// let wire = Bytes::from_static(b"HTTP_HOSTexample.org");
    /// let mut env = Environ::new();
    /// let segment = env.add_segment(wire.clone())?;
    /// env.push_segment_var(segment, 0..9, 9..20)?;
    /// let value = env.value_bytes_at(0).unwrap();
    /// assert_eq!(value, "example.org");
    /// assert_eq!(value.as_ptr(), wire[9..].as_ptr(), "shared, not copied");
    /// # Ok::<(), cgi_env::EnvironError>(())
    /// ```
    pub fn value_bytes_at(&self, index: usize) -> Option<Bytes> {
        let slot = self.entries.get(index)?.value;
        let segment = match slot.store {
            OWNED => return Some(Bytes::copy_from_slice(self.slot_bytes(slot))),
            0 => self.first.as_ref(),
            n => self.more.get(n as usize - 1),
        };
        let start = slot.start as usize;
        let end = start + slot.len as usize;
        // Slots are checked when they are made: the empty fallback is never taken.
        Some(
            segment
                .filter(|segment| end <= segment.len())
                .map_or_else(Bytes::new, |segment| segment.slice(start..end)),
        )
    }

    /// Total bytes of all names and values, without any framing.
    ///
    /// This and the other sizes ([`Environ::fastcgi_encoded_len`],
    /// [`Environ::uwsgi_encoded_len`], [`Environ::has_empty_name`]) are kept as variables
    /// are copied in, replaced and removed, so they take no pass over the variables; only
    /// after [`Environ::push_segment_var`] (a decoder's work) are they counted when asked.
    #[inline]
    pub fn content_len(&self) -> usize {
        saturating_usize(self.sizes().content)
    }

    /// The exact number of bytes these variables take as FastCGI name-value pairs: a 1-byte
    /// length for names and values up to 127 bytes, 4 bytes above.
    #[inline]
    pub fn fastcgi_encoded_len(&self) -> usize {
        let (sizes, vars) = (self.sizes(), self.entries.len() as u64);
        saturating_usize(sizes.content + 2 * vars + 3 * sizes.long_fields)
    }

    /// The exact number of bytes these variables take as a uwsgi vars block: a u16 length
    /// before each name and each value. The result may exceed 65535, which the uwsgi
    /// header cannot express; the uwsgi encoder refuses such a block.
    #[inline]
    pub fn uwsgi_encoded_len(&self) -> usize {
        saturating_usize(self.sizes().content + 4 * self.entries.len() as u64)
    }

    /// Whether some variable has an empty name (which uwsgi cannot carry).
    #[inline]
    pub fn has_empty_name(&self) -> bool {
        self.sizes().empty_names > 0
    }

    /// The running totals, counted now if decoded variables were added since they were
    /// last counted.
    #[inline]
    fn sizes(&self) -> Sizes {
        if self.uncounted {
            Sizes::of(&self.entries)
        } else {
            self.sizes
        }
    }

    /// Takes `entries` as the index, counting its sizes afresh.
    fn recount(&mut self, entries: Vec<Entry>) {
        self.sizes = Sizes::of(&entries);
        self.uncounted = false;
        self.entries = entries;
    }

    #[inline]
    fn push_entry(&mut self, entry: Entry) {
        if !self.uncounted {
            self.sizes.add(&entry);
        }
        self.entries.push(entry);
    }

    fn position(&self, name: &[u8]) -> Option<usize> {
        let stores = self.stores();
        self.entries.iter().position(|entry| {
            entry.name.len as usize == name.len() && stores.bytes(entry.name) == name
        })
    }

    fn remove_after(&mut self, first: usize, name: &[u8]) {
        let mut entries = std::mem::take(&mut self.entries);
        let mut index = 0;
        entries.retain(|entry| {
            let keep = index <= first || self.slot_bytes(entry.name) != name;
            index += 1;
            keep
        });
        self.recount(entries);
    }

    #[inline]
    fn segment(&self, store: u32) -> Option<&Bytes> {
        match store {
            0 => self.first.as_ref(),
            n => self.more.get(n as usize - 1),
        }
    }

    /// The owned buffer only grows while variables are replaced; compact it once it holds
    /// more dead bytes than live ones, so repeated `insert`s stay bounded. Called before a
    /// variable's slots are made, never between them: compaction moves owned bytes.
    fn compact_if_sparse(&mut self) {
        if self.owned.len() > 4096 && self.owned.len() / 2 > self.owned_live_len() {
            self.compact_owned();
        }
    }

    /// Whether `additional` more copied bytes still have offsets a slot can hold.
    fn check_owned_room(&self, additional: usize) -> Result<(), EnvironError> {
        match self.owned.len().checked_add(additional) {
            Some(total) if total <= MAX_OWNED_BYTES => Ok(()),
            _ => Err(EnvironError::TooLarge),
        }
    }

    /// Copies `bytes` into the owned buffer; [`Environ::check_owned_room`] was asked first,
    /// so the offsets fit in a slot.
    fn own(&mut self, bytes: &[u8]) -> Slot {
        let start = self.owned.len();
        self.owned.extend_from_slice(bytes);
        debug_assert!(self.owned.len() <= MAX_OWNED_BYTES);
        Slot {
            store: OWNED,
            start: start as u32,
            len: bytes.len() as u32,
        }
    }

    fn owned_live_len(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|e| [e.name, e.value])
            .filter(|s| s.store == OWNED)
            .map(|s| s.len as usize)
            .sum()
    }

    fn compact_owned(&mut self) {
        let mut owned = Vec::with_capacity(self.owned_live_len());
        for entry in &mut self.entries {
            for slot in [&mut entry.name, &mut entry.value] {
                if slot.store == OWNED {
                    let start = slot.start as usize;
                    let bytes = self
                        .owned
                        .get(start..start + slot.len as usize)
                        .unwrap_or_default();
                    slot.start = owned.len() as u32;
                    owned.extend_from_slice(bytes);
                }
            }
        }
        self.owned = owned;
    }

    #[inline]
    fn stores(&self) -> Stores<'_> {
        Stores {
            first: self.first.as_deref().unwrap_or_default(),
            more: &self.more,
            owned: &self.owned,
        }
    }

    #[inline]
    fn slot_bytes(&self, slot: Slot) -> &[u8] {
        self.stores().bytes(slot)
    }
}

#[inline]
fn checked_slot(
    store: u32,
    range: &Range<usize>,
    segment_len: usize,
) -> Result<Slot, EnvironError> {
    if range.start > range.end || range.end > segment_len {
        return Err(EnvironError::RangeOutOfBounds {
            start: range.start,
            end: range.end,
            segment_len,
        });
    }
    // The segment is shorter than 4 GiB (checked in add_segment), so these fit.
    Ok(Slot {
        store,
        start: range.start as u32,
        len: (range.end - range.start) as u32,
    })
}

/// Bytes one FastCGI name-value pair takes for a name and value of these lengths.
#[inline]
pub const fn fastcgi_pair_len(name_len: usize, value_len: usize) -> usize {
    fastcgi_length_len(name_len) + fastcgi_length_len(value_len) + name_len + value_len
}

/// A byte count as `usize`, `usize::MAX` past it (only on 32-bit targets): an encoder
/// refuses such a size either way.
#[inline]
fn saturating_usize(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

#[inline]
const fn fastcgi_length_len(len: usize) -> usize {
    if len < 128 { 1 } else { 4 }
}

/// A variable's bytes, as [`Environ::pairs`] gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairBytes<'a> {
    /// The name and the value, back to back in one slice.
    Joined(&'a [u8]),
    /// The name and the value, apart.
    Apart(&'a [u8], &'a [u8]),
}

/// Iterator over an environ's variables as name length, value length and
/// [`PairBytes`]; see [`Environ::pairs`].
#[derive(Clone)]
pub struct Pairs<'a> {
    stores: Stores<'a>,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (usize, usize, PairBytes<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let Entry { name, value } = *self.entries.next()?;
        let joined = (name.store == value.store
            && name.start.checked_add(name.len) == Some(value.start))
        .then(|| name.len.checked_add(value.len))
        .flatten();
        let bytes = match joined {
            Some(len) => PairBytes::Joined(self.stores.bytes(Slot { len, ..name })),
            None => PairBytes::Apart(self.stores.bytes(name), self.stores.bytes(value)),
        };
        Some((name.len as usize, value.len as usize, bytes))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Pairs<'_> {}

/// Iterator over an environ's variables in order; see [`Environ::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    stores: Stores<'a>,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        Some((
            self.stores.bytes(entry.name),
            self.stores.bytes(entry.value),
        ))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next_back()?;
        Some((
            self.stores.bytes(entry.name),
            self.stores.bytes(entry.value),
        ))
    }
}

impl<'a> IntoIterator for &'a Environ {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;

    #[inline]
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Environ {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut env = Environ::new();
        env.extend(iter);
        env
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Extend<(N, V)> for Environ {
    /// Appends each pair, duplicates kept, as [`Environ::append`] does.
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.append(name, value);
        }
    }
}

/// Two environs are equal when they hold the same variables in the same order, wherever
/// their bytes are stored.
impl PartialEq for Environ {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Environ {}

impl fmt::Debug for Environ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, v)| (Escaped(n), Escaped(v))))
            .finish()
    }
}

/// Shows bytes as a quoted string with non-printable bytes escaped.
struct Escaped<'a>(&'a [u8]);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_variable_is_added_whole_or_not_at_all() {
        let mut env: Environ = [("A", "1")].into_iter().collect();
        env.append_built(|out| {
            out.extend_from_slice(b"NAMEvalue");
            Ok::<_, ()>(Some(4))
        })
        .unwrap();
        // Discarded and failed builds leave nothing behind, not even their bytes.
        env.append_built(|out| {
            out.extend_from_slice(b"SKIPPED");
            Ok::<_, ()>(None)
        })
        .unwrap();
        assert_eq!(
            env.append_built(|out| {
                out.extend_from_slice(b"FAILED");
                Err::<Option<usize>, _>("bad")
            }),
            Err("bad")
        );
        env.append("B", "2");
        let pairs: Vec<(&[u8], &[u8])> = env.iter().collect();
        assert_eq!(
            pairs,
            [
                (&b"A"[..], &b"1"[..]),
                (&b"NAME"[..], &b"value"[..]),
                (&b"B"[..], &b"2"[..])
            ]
        );
        assert_eq!(env.owned.len(), b"A1NAMEvalueB2".len());
        // The running sizes count the built variable as any other.
        let same: Environ = pairs.iter().copied().collect();
        assert_eq!(env.content_len(), same.content_len());
        assert_eq!(env.fastcgi_encoded_len(), same.fastcgi_encoded_len());
        assert_eq!(env.uwsgi_encoded_len(), same.uwsgi_encoded_len());
    }

    /// What `pairs` gives, flattened: the same bytes and lengths as `iter`.
    fn flattened(env: &Environ) -> Vec<(usize, usize, Vec<u8>)> {
        env.pairs()
            .map(|(n, v, bytes)| match bytes {
                PairBytes::Joined(pair) => (n, v, pair.to_vec()),
                PairBytes::Apart(name, value) => (n, v, [name, value].concat()),
            })
            .collect()
    }

    #[test]
    fn pairs_join_adjacent_bytes_and_agree_with_iter() {
        let mut env = Environ::new();
        env.append("A", "1");
        env.append("BB", "");
        // A segment with a pair whose value is not right after its name.
        let segment = env.add_segment(Bytes::from_static(b"NAMExVALUE")).unwrap();
        env.push_segment_var(segment, 0..4, 5..10).unwrap();
        env.push_segment_var(segment, 5..10, 0..4).unwrap();
        // A replaced value lives elsewhere in the copied bytes.
        env.append("C", "3");
        env.insert("A", "one");
        let kinds: Vec<bool> = env
            .pairs()
            .map(|(_, _, b)| matches!(b, PairBytes::Joined(_)))
            .collect();
        assert_eq!(kinds, [false, true, false, false, true]);
        let expected: Vec<_> = env
            .iter()
            .map(|(n, v)| (n.len(), v.len(), [n, v].concat()))
            .collect();
        assert_eq!(flattened(&env), expected);
    }

    #[test]
    fn copied_bytes_past_4_gib_are_refused() {
        let half = vec![b'x'; 1 << 31];
        let mut env = Environ::new();
        env.try_append("A", &half).unwrap();
        assert_eq!(env.try_append("B", &half), Err(EnvironError::TooLarge));
        assert_eq!(env.try_insert("A", &half), Err(EnvironError::TooLarge));
        assert_eq!(env.len(), 1);
        assert_eq!(env.get("A").map(<[u8]>::len), Some(1 << 31));
        // Small variables still fit, with the right bytes.
        env.try_append("C", "3").unwrap();
        assert_eq!(env.get_str("C"), Some("3"));
    }

    #[test]
    fn segment_vars_point_into_the_segment() {
        let wire = Bytes::from_static(b"NAMEvalueOTHERx");
        let mut env = Environ::new();
        let seg = env.add_segment(wire.clone()).unwrap();
        env.push_segment_var(seg, 0..4, 4..9).unwrap();
        env.push_segment_var(seg, 9..14, 14..15).unwrap();
        assert_eq!(env.get("NAME"), Some(&b"value"[..]));
        assert_eq!(env.get("OTHER"), Some(&b"x"[..]));
        assert_eq!(
            env.get("NAME").unwrap().as_ptr(),
            wire[4..].as_ptr(),
            "value must point into the wire buffer"
        );
    }

    #[test]
    fn out_of_bounds_ranges_are_refused() {
        let mut env = Environ::new();
        let seg = env.add_segment(Bytes::from_static(b"abc")).unwrap();
        assert!(matches!(
            env.push_segment_var(seg, 0..4, 0..0),
            Err(EnvironError::RangeOutOfBounds {
                end: 4,
                segment_len: 3,
                ..
            })
        ));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert!(env.push_segment_var(seg, 0..1, reversed).is_err());
        assert_eq!(
            env.push_segment_var(SegmentId(7), 0..1, 0..1),
            Err(EnvironError::UnknownSegment)
        );
        assert!(env.is_empty());
    }

    #[test]
    fn several_segments() {
        let mut env = Environ::new();
        let a = env.add_segment(Bytes::from_static(b"AB")).unwrap();
        let b = env.add_segment(Bytes::from_static(b"CD")).unwrap();
        env.push_segment_var(b, 0..1, 1..2).unwrap();
        env.push_segment_var(a, 0..1, 1..2).unwrap();
        let vars: Vec<_> = env.iter().collect();
        assert_eq!(vars, vec![(&b"C"[..], &b"D"[..]), (&b"A"[..], &b"B"[..])]);
    }

    #[test]
    fn duplicates_last_wins_and_insert_dedups() {
        let mut env: Environ = [("A", "1"), ("B", "2"), ("A", "3")].into_iter().collect();
        assert_eq!(env.get("A"), Some(&b"3"[..]));
        assert_eq!(env.len(), 3);
        env.insert("A", "4");
        assert_eq!(env.len(), 2);
        let vars: Vec<_> = env.iter().collect();
        assert_eq!(vars, vec![(&b"A"[..], &b"4"[..]), (&b"B"[..], &b"2"[..])]);
    }

    #[test]
    fn remove_returns_last_value() {
        let mut env: Environ = [("A", "1"), ("B", "2"), ("A", "3")].into_iter().collect();
        assert_eq!(env.remove("A"), Some(b"3".to_vec()));
        assert!(!env.contains("A"));
        assert_eq!(env.len(), 1);
        assert_eq!(env.remove("A"), None);
    }

    #[test]
    fn replacing_many_times_keeps_owned_buffer_bounded() {
        let mut env = Environ::new();
        let value = vec![b'x'; 1000];
        for _ in 0..10_000 {
            env.insert("BIG", &value);
        }
        assert!(
            env.owned.len() < 16 * 1024,
            "owned grew to {}",
            env.owned.len()
        );
        assert_eq!(env.get("BIG"), Some(&value[..]));
    }

    #[test]
    fn long_names_survive_compaction() {
        let mut env = Environ::new();
        for _ in 0..8 {
            env.insert("V", vec![b'v'; 2000]);
        }
        let name = vec![b'k'; 65536];
        env.append(&name, "x");
        env.append("SHORT", vec![b's'; 5000]);
        assert_eq!(env.get(&name), Some(&b"x"[..]));
        assert_eq!(env.get("V"), Some(&[b'v'; 2000][..]));
        assert_eq!(env.get("SHORT"), Some(&[b's'; 5000][..]));
        let names: Vec<usize> = env.iter().map(|(n, _)| n.len()).collect();
        assert_eq!(names, vec![1, 65536, 5]);
    }

    #[test]
    fn encoded_lengths_cross_the_127_boundary() {
        let mut env = Environ::new();
        env.append(vec![b'n'; 127], vec![b'v'; 128]);
        assert_eq!(env.fastcgi_encoded_len(), 1 + 4 + 127 + 128);
        assert_eq!(env.uwsgi_encoded_len(), 4 + 127 + 128);
        assert_eq!(env.content_len(), 255);
    }

    #[test]
    fn debug_escapes_bytes() {
        let env: Environ = [(&b"A"[..], &b"x\n\xff"[..])].into_iter().collect();
        assert_eq!(format!("{env:?}"), r#"{"A": "x\n\xff"}"#);
    }

    #[test]
    fn equality_ignores_storage() {
        let mut wire = Environ::new();
        let seg = wire.add_segment(Bytes::from_static(b"AB")).unwrap();
        wire.push_segment_var(seg, 0..1, 1..2).unwrap();
        let owned: Environ = [("A", "B")].into_iter().collect();
        assert_eq!(wire, owned);
    }
}
