#include "dataplane/route/shared_memory.h"

#include <atomic>

namespace dmrswitch::route {
namespace {

void* DefaultAllocate(size_t bytes, size_t alignment) {
  return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
}

void DefaultDeallocate(void* p, size_t /*bytes*/, size_t alignment) {
  ::operator delete (p, std::align_val_t{alignment});
}

std::atomic<uint64_t> next_local_owner{1};
uint64_t LocalOwner() { return next_local_owner.fetch_add(1, std::memory_order_relaxed); }

SnapshotMemory current_memory = {DefaultAllocate, DefaultDeallocate, LocalOwner};

thread_local uint64_t current_owner = 0;

}  // namespace

SnapshotMemory DefaultSnapshotMemory() { return {DefaultAllocate, DefaultDeallocate, LocalOwner}; }

void SetSnapshotMemory(SnapshotMemory memory) {
  const bool complete = memory.allocate != nullptr && memory.deallocate != nullptr;
  current_memory = complete ? memory : DefaultSnapshotMemory();
  if (current_memory.new_owner == nullptr) current_memory.new_owner = LocalOwner;
}

uint64_t CurrentSnapshotOwner() { return current_owner; }

SnapshotOwnerScope::SnapshotOwnerScope()
    : owner_(current_memory.new_owner()), enclosing_(current_owner) {
  current_owner = owner_;
}

SnapshotOwnerScope::~SnapshotOwnerScope() { current_owner = enclosing_; }

SnapshotMemory CurrentSnapshotMemory() { return current_memory; }

void* AllocateSnapshotBytes(size_t bytes, size_t alignment) {
  void* p = current_memory.allocate(bytes, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void FreeSnapshotBytes(void* p, size_t bytes, size_t alignment) noexcept {
  if (p != nullptr) current_memory.deallocate(p, bytes, alignment);
}

}  // namespace dmrswitch::route
