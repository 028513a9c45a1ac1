#include "dataplane/route/shared_memory.h"

namespace dmrswitch::route {
namespace {

void* DefaultAllocate(size_t bytes, size_t alignment) {
  return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
}

void DefaultDeallocate(void* p, size_t /*bytes*/, size_t alignment) {
  ::operator delete (p, std::align_val_t{alignment});
}

SnapshotMemory current_memory = {DefaultAllocate, DefaultDeallocate};

}  // namespace

SnapshotMemory DefaultSnapshotMemory() { return {DefaultAllocate, DefaultDeallocate}; }

void SetSnapshotMemory(SnapshotMemory memory) {
  const bool complete = memory.allocate != nullptr && memory.deallocate != nullptr;
  current_memory = complete ? memory : DefaultSnapshotMemory();
}

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
