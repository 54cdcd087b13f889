//! What one instance may hold of the machine: the sum of its linear
//! memories and the sum of its tables' elements.
//!
//! wasmtime's own `StoreLimits` bounds each memory and each table on its
//! own, so a component of eleven core instances, each with its own memory,
//! could hold eleven times the `memory` limit. This limiter counts every
//! memory and table of the store together: `memory` bounds the instance.

use wasmtime::ResourceLimiter;

/// The limiter installed in every store (`Store::limiter`).
#[derive(Debug)]
pub struct InstanceQuota {
    /// The most bytes of linear memory, all memories together.
    memory: usize,
    /// The most table elements, all tables together.
    table_elements: usize,
    memory_used: usize,
    elements_used: usize,
    /// Whether a memory growth was refused: a trap after it is counted as
    /// the memory limit's doing.
    refused_memory: bool,
}

impl InstanceQuota {
    /// A quota of `memory` bytes and `table_elements` elements.
    pub fn new(memory: usize, table_elements: usize) -> Self {
        InstanceQuota {
            memory,
            table_elements,
            memory_used: 0,
            elements_used: 0,
            refused_memory: false,
        }
    }

    /// Forgets a refused growth (a reused instance's next request).
    pub fn clear_refused(&mut self) {
        self.refused_memory = false;
    }

    /// Whether the instance asked for more memory than its limit.
    pub fn refused_memory(&self) -> bool {
        self.refused_memory
    }

    /// Bytes of linear memory the instance holds now.
    #[cfg(test)]
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

/// Grows `used` by `desired - current` if that stays within `cap`.
fn take(used: &mut usize, cap: usize, current: usize, desired: usize) -> bool {
    let more = desired.saturating_sub(current);
    match used.checked_add(more) {
        Some(total) if total <= cap => {
            *used = total;
            true
        }
        _ => false,
    }
}

impl ResourceLimiter for InstanceQuota {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `false` makes `memory.grow` return -1 (and instantiation fail):
        // the guest sees an allocation failure, as with one memory.
        let granted = take(&mut self.memory_used, self.memory, current, desired);
        self.refused_memory |= !granted;
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(take(
            &mut self.elements_used,
            self.table_elements,
            current,
            desired,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Engine, Instance, Module, Store};

    /// A core module with four memories of one page each, and a function
    /// growing memory `n` by one page.
    const FOUR_MEMORIES: &str = r#"
        (module
          (memory $a 1) (memory $b 1) (memory $c 1) (memory $d 1)
          (func (export "grow_d") (result i32) (memory.grow $d (i32.const 1)))
          (func (export "grow_a") (result i32) (memory.grow $a (i32.const 1))))
    "#;

    fn new_store(quota: InstanceQuota) -> (Store<InstanceQuota>, Module) {
        let engine = Engine::new(&Config::new()).unwrap();
        let module = Module::new(&engine, wat::parse_str(FOUR_MEMORIES).unwrap()).unwrap();
        let mut store = Store::new(&engine, quota);
        store.limiter(|quota| quota);
        (store, module)
    }

    #[test]
    fn the_memory_limit_bounds_all_memories_together() {
        const PAGE: usize = 64 << 10;
        // Four pages fit; a fifth does not, whichever memory asks.
        let (mut store, module) = new_store(InstanceQuota::new(4 * PAGE, 100));
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(store.data().memory_used(), 4 * PAGE);
        let grow = |store: &mut Store<InstanceQuota>, name| {
            instance
                .get_typed_func::<(), i32>(&mut *store, name)
                .unwrap()
                .call(&mut *store, ())
                .unwrap()
        };
        assert_eq!(grow(&mut store, "grow_d"), -1);
        assert_eq!(grow(&mut store, "grow_a"), -1);

        // Three pages cannot even hold the four memories at start.
        let (mut store, module) = new_store(InstanceQuota::new(3 * PAGE, 100));
        assert!(Instance::new(&mut store, &module, &[]).is_err());

        // With room for five, exactly one growth succeeds.
        let (mut store, module) = new_store(InstanceQuota::new(5 * PAGE, 100));
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let d = instance
            .get_typed_func::<(), i32>(&mut store, "grow_d")
            .unwrap();
        assert_eq!(d.call(&mut store, ()).unwrap(), 1);
        assert_eq!(d.call(&mut store, ()).unwrap(), -1);
    }
}
