#include "dataplane/ipc/malloc_heap_check.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {

namespace malloc_layout {
uint32_t FreeListIndex(uint64_t size) {
  // malloc_elem_free_list_index: lists by powers of 4 of the data size from 256 bytes up.
  constexpr uint64_t kMinLog2 = 8, kLog2Step = 2;
  const uint64_t data = size - kElemHeaderBytes;
  if (data <= (uint64_t{1} << kMinLog2)) return 0;
  const uint64_t log2 = 64 - static_cast<uint64_t>(__builtin_clzll(data - 1));
  const uint64_t index = (log2 - kMinLog2 + kLog2Step - 1) / kLog2Step;
  return index <= kFreeLists - 1 ? static_cast<uint32_t>(index) : kFreeLists - 1;
}
}  // namespace malloc_layout

namespace {

using namespace malloc_layout;

uint64_t U64(const uint8_t* b, uint32_t off) {
  uint64_t v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}
uint32_t U32(const uint8_t* b, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

std::string Addr(uint64_t a) { return absl::StrCat("0x", absl::Hex(a)); }

// The free elements in address order (address, size, state word), at most `max_elements`
// followed; nullopt if one is unreadable.
struct FreeElement {
  uint64_t at, size;
  uint32_t word;
};
std::optional<std::vector<FreeElement>> FreeElements(MemoryReader read, uint64_t heap,
                                                     uint64_t max_elements) {
  std::vector<FreeElement> out;
  uint64_t at = 0;
  if (!read(heap + kHeapFirst, &at, sizeof at)) return std::nullopt;
  for (uint64_t n = 0; at != 0 && n < max_elements; ++n) {
    uint8_t e[kElemHeaderBytes];
    if (!read(at, e, sizeof e)) return std::nullopt;
    const uint32_t word = U32(e, kElemState);
    if ((word & 7u) == kElemFree) out.push_back({at, U64(e, kElemSize), word});
    at = U64(e, kElemNext);
  }
  return out;
}

MallocHeapReport Broken(MallocHeapReport r, std::string problem) {
  r.intact = false;
  r.problem = std::move(problem);
  return r;
}

}  // namespace

MallocHeapReport CheckMallocHeap(MemoryReader read, uint64_t heap, uint64_t max_elements) {
  MallocHeapReport r;
  uint8_t h[kHeapBytes];
  if (!read(heap, h, sizeof h)) return Broken(r, absl::StrCat("heap at ", Addr(heap), " unread"));
  r.alloc_count = U32(h, kHeapAllocCount);
  const uint64_t first = U64(h, kHeapFirst), last = U64(h, kHeapLast);
  if ((first == 0) != (last == 0)) {
    return Broken(r, absl::StrCat("first ", Addr(first), " and last ", Addr(last),
                                  " disagree on whether the heap is empty"));
  }

  // Every element from first to last, in address order, each linked back to the one before.
  absl::flat_hash_map<uint64_t, uint32_t> state_of;  // element -> state
  uint64_t prev = 0;
  for (uint64_t at = first; at != 0;) {
    if (r.elements == max_elements) {
      return Broken(r, absl::StrCat("more than ", max_elements, " elements"));
    }
    if (at % kElemAlign != 0) {
      return Broken(r, absl::StrCat("element ", Addr(at), " after ", Addr(prev), " misaligned"));
    }
    uint8_t e[kElemHeaderBytes];
    if (!read(at, e, sizeof e)) {
      return Broken(r, absl::StrCat("element ", Addr(at), " after ", Addr(prev), " not mapped"));
    }
    const uint64_t size = U64(e, kElemSize), next = U64(e, kElemNext);
    const uint32_t state = U32(e, kElemState) & 7u;
    if (U64(e, kElemHeap) != heap) {
      return Broken(r, absl::StrCat("element ", Addr(at), " names heap ", Addr(U64(e, kElemHeap))));
    }
    if (U64(e, kElemPrev) != prev) {
      return Broken(r, absl::StrCat("element ", Addr(at), " links back to ",
                                    Addr(U64(e, kElemPrev)), ", not ", Addr(prev)));
    }
    if (state > kElemPadState) {
      return Broken(r, absl::StrCat("element ", Addr(at), " has state ", state));
    }
    if (size < kElemHeaderBytes || size > UINT64_MAX - at) {
      return Broken(r, absl::StrCat("element ", Addr(at), " has size ", size));
    }
    // Elements are kept in address order and never overlap (split_elem shrinks the first part
    // only after linking the second).
    if (next != 0 && (next <= at || next < at + size)) {
      return Broken(r, absl::StrCat("element ", Addr(at), " of ", size, " bytes is followed by ",
                                    Addr(next)));
    }
    state_of[at] = state;
    ++r.elements;
    if (state == kElemFree) ++r.free_elements;
    if (state == kElemBusy) ++r.busy_elements;
    prev = at;
    at = next;
  }
  if (prev != last) {
    return Broken(
        r, absl::StrCat("the elements end at ", Addr(prev), ", the heap's last is ", Addr(last)));
  }

  // Each free element on exactly one free list, the one its size selects, linked both ways.
  // What is wrong from here on is in the free lists alone, which the elements determine.
  r.free_lists_only = true;
  uint64_t listed = 0;
  absl::flat_hash_map<uint64_t, bool> seen;
  for (uint32_t i = 0; i < kFreeLists; ++i) {
    uint64_t link = heap + kHeapFreeHead + 8ull * i;  // where the pointer to the entry lives
    for (uint64_t at = U64(h, kHeapFreeHead + 8 * i); at != 0;) {
      const auto it = state_of.find(at);
      if (it == state_of.end()) {
        return Broken(r, absl::StrCat("free list ", i, " holds ", Addr(at),
                                      ", which is not an element of the heap"));
      }
      if (it->second != kElemFree) {
        return Broken(r,
                      absl::StrCat("free list ", i, " holds ", Addr(at), ", state ", it->second));
      }
      if (!seen.emplace(at, true).second) {
        return Broken(r, absl::StrCat("free element ", Addr(at), " is listed twice"));
      }
      uint8_t e[kElemHeaderBytes];
      if (!read(at, e, sizeof e)) {
        return Broken(r, absl::StrCat("free element ", Addr(at), " unread"));
      }
      if (U64(e, kElemFreePrev) != link) {
        return Broken(r, absl::StrCat("free element ", Addr(at), " on list ", i, " links back to ",
                                      Addr(U64(e, kElemFreePrev)), ", not ", Addr(link)));
      }
      if (FreeListIndex(U64(e, kElemSize)) != i) {
        return Broken(r, absl::StrCat("free element ", Addr(at), " of ", U64(e, kElemSize),
                                      " bytes is on list ", i));
      }
      ++listed;
      link = at + kElemFreeNext;
      at = U64(e, kElemFreeNext);
    }
  }
  if (listed != r.free_elements) {
    uint64_t first_unlisted = UINT64_MAX;
    for (const auto& [at, state] : state_of) {
      if (state == kElemFree && !seen.contains(at)) first_unlisted = std::min(first_unlisted, at);
    }
    return Broken(r, absl::StrCat("free element ", Addr(first_unlisted), " is on no free list (",
                                  r.free_elements - listed, " of ", r.free_elements,
                                  " free elements are not)"));
  }
  r.free_lists_only = false;
  r.intact = true;
  return r;
}

MallocHeapReport RepairMallocHeap(MemoryReader read, MemoryWriter write, uint64_t heap,
                                  const MallocHeapReport& report) {
  if (report.intact || !report.free_lists_only) return report;
  // The free elements, from the element list CheckMallocHeap found whole.
  const auto free = FreeElements(read, heap, report.elements);
  if (!free) return CheckMallocHeap(read, heap);
  const uint64_t zero = 0;
  for (uint32_t i = 0; i < kFreeLists; ++i) {
    if (!write(heap + kHeapFreeHead + 8ull * i, &zero, sizeof zero)) {
      return CheckMallocHeap(read, heap);
    }
  }
  for (const auto& [elem, size, word] : *free) {
    const uint64_t head = heap + kHeapFreeHead + 8ull * FreeListIndex(size);
    uint64_t first = 0;
    if (!read(head, &first, sizeof first)) break;
    const uint64_t link_to_next = elem + kElemFreeNext;
    bool ok = write(elem + kElemFreeNext, &first, sizeof first);
    if (ok && first != 0) ok = write(first + kElemFreePrev, &link_to_next, sizeof link_to_next);
    ok = ok && write(head, &elem, sizeof elem) && write(elem + kElemFreePrev, &head, sizeof head);
    if (!ok) break;
  }
  return CheckMallocHeap(read, heap);
}

int64_t SettleFreeElements(MemoryReader read, MemoryWriter write, uint64_t heap,
                           uint64_t max_elements) {
  const auto free = FreeElements(read, heap, max_elements);
  if (!free) return -1;
  for (const auto& [at, size, word] : *free) {
    const uint32_t dirty = word | (1u << kElemDirtyBit), pad = 0;
    if (!write(at + kElemState, &dirty, sizeof dirty) || !write(at + kElemPad, &pad, sizeof pad)) {
      return -1;
    }
  }
  return static_cast<int64_t>(free->size());
}

}  // namespace dmrswitch::ipc
