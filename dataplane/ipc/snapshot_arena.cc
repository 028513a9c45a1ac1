#include "dataplane/ipc/snapshot_arena.h"

#include <signal.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {

struct SnapshotArena::Header {
  static constexpr uint64_t kMagic = 0x414E455241505344;  // "DSPARENA"
  static constexpr uint32_t kLayoutVersion = 1;

  std::atomic<uint64_t> magic;  // stored last by Format
  uint32_t layout_version;
  uint32_t page_bytes;
  uint64_t region_bytes;
  uint64_t npages;
  uint64_t desc_offset;
  uint64_t run_owner_offset;
  uint64_t data_offset;
  std::atomic<uint64_t> next_owner;
  // Figures for whoever reads them (relaxed; not part of the arena's state).
  std::atomic<uint64_t> attaches;
  std::atomic<uint64_t> reclaimed_blocks;
  std::atomic<uint64_t> reclaimed_bytes;
  std::atomic<uint64_t> ignored_frees;
  std::atomic<uint64_t> pages_in_use;
  std::atomic<uint64_t> peak_pages;
};

namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8);

// --- Size classes --------------------------------------------------------------------------------

constexpr std::array<uint32_t, 24> kClassBytes = {16,  32,  48,  64,   80,   96,   112,  128,
                                                  160, 192, 224, 256,  320,  384,  448,  512,
                                                  640, 768, 896, 1024, 1280, 1536, 1792, 2048};
constexpr uint32_t kClasses = kClassBytes.size();
static_assert(kClassBytes.back() == SnapshotArena::kMaxSlotBytes);

struct ClassGeometry {
  uint32_t slot_bytes = 0;
  uint32_t slab_pages = 0;
  uint32_t slots = 0;
  uint32_t bitmap_words = 0;
  uint32_t meta_offset = 0;  // from the slab's start: bitmap words, then one owner per slot
};

constexpr uint32_t SlotsIn(uint64_t slab_bytes, uint32_t slot_bytes) {
  uint32_t n = static_cast<uint32_t>(slab_bytes / (slot_bytes + 8));
  while (n > 0 && uint64_t{n} * slot_bytes + 8 * (uint64_t{n} + (n + 63) / 64) > slab_bytes) --n;
  return n;
}

// The fewest pages (1, 2, 4 or 8) that waste at most an eighth of the slab.
constexpr std::array<ClassGeometry, kClasses> MakeGeometry() {
  std::array<ClassGeometry, kClasses> g{};
  for (uint32_t c = 0; c < kClasses; ++c) {
    const uint32_t slot = kClassBytes[c];
    uint32_t pages = 1;
    for (; pages < 8; pages *= 2) {
      const uint64_t bytes = uint64_t{pages} * SnapshotArena::kPageBytes;
      if (SlotsIn(bytes, slot) >= 4 &&
          (bytes - uint64_t{SlotsIn(bytes, slot)} * slot) * 8 <= bytes) {
        break;
      }
    }
    const uint32_t n = SlotsIn(uint64_t{pages} * SnapshotArena::kPageBytes, slot);
    g[c] = ClassGeometry{slot, pages, n, (n + 63) / 64, n * slot};
  }
  return g;
}
constexpr std::array<ClassGeometry, kClasses> kGeometry = MakeGeometry();

// By size in 16-byte steps (index ceil(bytes / 16)): the smallest class that holds it.
constexpr std::array<uint8_t, SnapshotArena::kMaxSlotBytes / 16 + 1> MakeClassBySize() {
  std::array<uint8_t, SnapshotArena::kMaxSlotBytes / 16 + 1> t{};
  uint32_t c = 0;
  for (uint32_t i = 0; i < t.size(); ++i) {
    while (kClassBytes[c] < i * 16) ++c;
    t[i] = static_cast<uint8_t>(c);
  }
  return t;
}
constexpr auto kClassBySize = MakeClassBySize();

// The class for `bytes` aligned to `alignment`, or -1: a run of pages.
int ClassFor(size_t bytes, size_t alignment) {
  if (bytes > SnapshotArena::kMaxSlotBytes) return -1;
  for (uint32_t c = kClassBySize[(bytes + 15) / 16]; c < kClasses; ++c) {
    if (kClassBytes[c] % alignment == 0) return static_cast<int>(c);
  }
  return -1;
}

// --- Descriptors ---------------------------------------------------------------------------------
// The top byte tells a slab's head from a run's (and both from garbage); 0 is a page that heads
// nothing.
constexpr uint64_t kSlabTag = 0x5A;
constexpr uint64_t kRunTag = 0xA5;
constexpr uint64_t SlabDesc(uint32_t cls) { return (kSlabTag << 56) | cls; }
constexpr uint64_t RunDesc(uint64_t pages) { return (kRunTag << 56) | pages; }
constexpr uint64_t TagOf(uint64_t desc) { return desc >> 56; }
constexpr uint32_t ClassOf(uint64_t desc) { return static_cast<uint32_t>(desc & 0xFF); }
constexpr uint64_t PagesOf(uint64_t desc) { return desc & 0xFFFFFFFF; }

// --- Metadata writes -----------------------------------------------------------------------------

uint64_t g_metadata_writes = 0;
uint64_t g_kill_at = 0;  // 0: never

// Every store to the shared metadata goes through here, so a test can stop the process before
// any one of them. Release order: what a commit publishes was written before it, whatever
// instruction the process dies at.
inline void Store(std::atomic<uint64_t>& word, uint64_t value) {
  if (++g_metadata_writes == g_kill_at) raise(SIGKILL);
  word.store(value, std::memory_order_release);
}

// The header's room: its size, rounded up with space to grow.
constexpr size_t HeaderBytes() { return 256; }

uintptr_t AlignUp(uintptr_t v, uintptr_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

// --- Set-up
// ----------------------------------------------------------------------------------------

size_t SnapshotArena::RegionBytesFor(size_t capacity_bytes) {
  const size_t pages = (capacity_bytes + kPageBytes - 1) / kPageBytes;
  return HeaderBytes() + 16 * pages + kPageBytes + pages * kPageBytes;
}

absl::StatusOr<SnapshotArena> SnapshotArena::Format(void* region, size_t bytes) {
  static_assert(sizeof(Header) <= HeaderBytes());
  const auto base = reinterpret_cast<uintptr_t>(region);
  if (base % alignof(Header) != 0) {
    return absl::InvalidArgumentError("the snapshot arena's region is not 8-byte aligned");
  }
  // The most pages whose metadata and data fit, the data aligned to a page.
  uint64_t n = bytes > HeaderBytes() ? (bytes - HeaderBytes()) / (kPageBytes + 16) : 0;
  while (n > 0 &&
         AlignUp(base + HeaderBytes() + 16 * n, kPageBytes) + n * kPageBytes > base + bytes) {
    --n;
  }
  n = std::min<uint64_t>(n, kNoHead - 1);
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a snapshot arena of ", bytes, " bytes has no room for a page"));
  }
  auto* h = new (region) Header();
  h->layout_version = Header::kLayoutVersion;
  h->page_bytes = kPageBytes;
  h->region_bytes = bytes;
  h->npages = n;
  h->desc_offset = HeaderBytes();
  h->run_owner_offset = HeaderBytes() + 8 * n;
  h->data_offset = AlignUp(base + HeaderBytes() + 16 * n, kPageBytes) - base;
  h->next_owner.store(1);
  auto* words = reinterpret_cast<std::atomic<uint64_t>*>(base + h->desc_offset);
  for (uint64_t i = 0; i < 2 * n; ++i) new (&words[i]) std::atomic<uint64_t>(0);
  h->magic.store(Header::kMagic, std::memory_order_release);
  return Attach(region, bytes);
}

absl::StatusOr<SnapshotArena> SnapshotArena::Attach(void* region, size_t bytes) {
  const auto base = reinterpret_cast<uintptr_t>(region);
  auto* h = static_cast<Header*>(region);
  if (bytes < HeaderBytes() || base % alignof(Header) != 0 ||
      h->magic.load(std::memory_order_acquire) != Header::kMagic) {
    return absl::DataLossError("the snapshot arena was never laid out (no arena header)");
  }
  if (h->layout_version != Header::kLayoutVersion || h->page_bytes != kPageBytes ||
      h->region_bytes != bytes || h->npages == 0 || h->npages >= kNoHead ||
      h->desc_offset != HeaderBytes() || h->run_owner_offset != HeaderBytes() + 8 * h->npages ||
      h->data_offset + h->npages * kPageBytes > bytes || (base + h->data_offset) % kPageBytes) {
    return absl::DataLossError(absl::StrCat(
        "the snapshot arena's header does not describe this region (layout ", h->layout_version,
        ", ", h->npages, " pages, ", h->region_bytes, " bytes; the memzone has ", bytes, ")"));
  }
  SnapshotArena a;
  a.header_ = h;
  a.npages_ = static_cast<uint32_t>(h->npages);
  a.desc_ = reinterpret_cast<std::atomic<uint64_t>*>(base + h->desc_offset);
  a.run_owner_ = reinterpret_cast<std::atomic<uint64_t>*>(base + h->run_owner_offset);
  a.data_ = base + h->data_offset;
  if (absl::Status st = a.BuildIndex(); !st.ok()) return st;
  h->attaches.fetch_add(1, std::memory_order_relaxed);
  return a;
}

absl::Status SnapshotArena::BuildIndex() {
  head_of_.assign(npages_, kNoHead);
  free_pages_.assign((npages_ + 63) / 64, 0);
  for (uint32_t p = 0; p < npages_; ++p) free_pages_[p / 64] |= uint64_t{1} << (p % 64);
  first_free_ = 0;
  slab_used_.assign(npages_, 0);
  in_partial_.assign(npages_, 0);
  partial_.assign(kClasses, {});
  spare_slab_.assign(kClasses, kNoHead);
  usage_ = Usage{};
  usage_.capacity_bytes = uint64_t{npages_} * kPageBytes;
  const auto corrupt = [](uint32_t page, const char* what) {
    return absl::DataLossError(
        absl::StrCat("the snapshot arena's metadata is damaged at page ", page, ": ", what,
                     ". Restart dmrswitch-dp (after a drain) to start with a new arena"));
  };
  std::vector<uint32_t> empty_slabs;
  for (uint32_t p = 0; p < npages_;) {
    const uint64_t d = desc_[p].load(std::memory_order_acquire);
    if (d == 0) {
      ++p;
      continue;
    }
    if (TagOf(d) == kSlabTag) {
      const uint32_t cls = ClassOf(d);
      if (cls >= kClasses || (d & 0x00FFFFFFFFFFFF00) != 0) return corrupt(p, "unknown slab class");
      const ClassGeometry& g = kGeometry[cls];
      if (uint64_t{p} + g.slab_pages > npages_) return corrupt(p, "slab beyond the last page");
      const std::atomic<uint64_t>* bitmap = SlabBitmap(p, cls);
      uint32_t used = 0;
      for (uint32_t w = 0; w < g.bitmap_words; ++w) {
        const uint64_t bits = bitmap[w].load(std::memory_order_acquire);
        const uint32_t valid = std::min<uint32_t>(64, g.slots - w * 64);
        if (valid < 64 && (bits >> valid) != 0) return corrupt(p, "slot bits beyond the slab");
        used += static_cast<uint32_t>(std::popcount(bits));
      }
      TakePages(p, g.slab_pages);
      slab_used_[p] = used;
      usage_.blocks += used;
      usage_.block_bytes += uint64_t{used} * g.slot_bytes;
      if (used < g.slots) {
        partial_[cls].push_back(p);
        in_partial_[p] = 1;
      }
      if (used == 0) empty_slabs.push_back(p);
      p += g.slab_pages;
    } else if (TagOf(d) == kRunTag) {
      const uint64_t pages = PagesOf(d);
      if (pages == 0 || (d & 0x00FFFFFF00000000) != 0 || p + pages > npages_) {
        return corrupt(p, "run of an impossible length");
      }
      TakePages(p, pages);
      ++usage_.blocks;
      usage_.block_bytes += pages * kPageBytes;
      p += static_cast<uint32_t>(pages);
    } else {
      return corrupt(p, "a descriptor that is neither a slab nor a run");
    }
  }
  // Empty slabs (a predecessor's spares, or slabs emptied when it died): their pages back.
  for (uint32_t head : empty_slabs) ReleaseSlab(head);
  usage_.peak_pages =
      std::max(usage_.pages_in_use, header_->peak_pages.load(std::memory_order_relaxed));
  NoteUsage();
  return absl::OkStatus();
}

// --- Allocation
// ------------------------------------------------------------------------------------

std::atomic<uint64_t>* SnapshotArena::SlabBitmap(uint32_t head, uint32_t cls) const {
  return reinterpret_cast<std::atomic<uint64_t>*>(PageAddress(head) + kGeometry[cls].meta_offset);
}

std::atomic<uint64_t>* SnapshotArena::SlabOwners(uint32_t head, uint32_t cls) const {
  return SlabBitmap(head, cls) + kGeometry[cls].bitmap_words;
}

void* SnapshotArena::Allocate(size_t bytes, size_t alignment, uint64_t owner) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) {
    return nullptr;
  }
  if (bytes == 0) bytes = 1;
  const int cls = ClassFor(bytes, alignment);
  if (cls >= 0) return AllocateSlot(static_cast<uint32_t>(cls), owner);
  if (bytes > uint64_t{npages_} * kPageBytes) return nullptr;
  return AllocateRun((bytes + kPageBytes - 1) / kPageBytes, owner);
}

void* SnapshotArena::AllocateSlot(uint32_t cls, uint64_t owner) {
  const ClassGeometry& g = kGeometry[cls];
  std::vector<uint32_t>& partial = partial_[cls];
  while (true) {
    if (partial.empty() && NewSlab(cls) < 0) return nullptr;
    const uint32_t head = partial.back();
    if (slab_used_[head] >= g.slots) {  // filled up since it was listed
      partial.pop_back();
      in_partial_[head] = 0;
      continue;
    }
    std::atomic<uint64_t>* bitmap = SlabBitmap(head, cls);
    for (uint32_t w = 0; w < g.bitmap_words; ++w) {
      const uint64_t bits = bitmap[w].load(std::memory_order_relaxed);
      const uint32_t valid = std::min<uint32_t>(64, g.slots - w * 64);
      const uint64_t free_bits = ~bits & (valid == 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1);
      if (free_bits == 0) continue;
      const uint32_t bit = static_cast<uint32_t>(std::countr_zero(free_bits));
      const uint32_t slot = w * 64 + bit;
      // The owner first: until the bit is set, the slot is free whatever its owner word says.
      Store(SlabOwners(head, cls)[slot], owner);
      Store(bitmap[w], bits | (uint64_t{1} << bit));  // commit
      ++slab_used_[head];
      if (spare_slab_[cls] == head) spare_slab_[cls] = kNoHead;
      ++usage_.blocks;
      usage_.block_bytes += g.slot_bytes;
      return reinterpret_cast<void*>(PageAddress(head) + uint64_t{slot} * g.slot_bytes);
    }
    // The count said there was room and the bitmap says there is none: cannot happen while the
    // index follows the metadata; treat the slab as full rather than loop.
    slab_used_[head] = g.slots;
  }
}

int64_t SnapshotArena::NewSlab(uint32_t cls) {
  const ClassGeometry& g = kGeometry[cls];
  int64_t head = FindFreePages(g.slab_pages);
  if (head < 0) {
    // Spare slabs of other classes are pages too.
    for (uint32_t c = 0; c < kClasses; ++c) {
      if (spare_slab_[c] != kNoHead) ReleaseSlab(spare_slab_[c]);
    }
    head = FindFreePages(g.slab_pages);
    if (head < 0) return -1;
  }
  const auto h = static_cast<uint32_t>(head);
  // The bitmap lies in free pages: nobody reads it until the descriptor commits the slab.
  std::atomic<uint64_t>* bitmap = SlabBitmap(h, cls);
  for (uint32_t w = 0; w < g.bitmap_words; ++w) Store(bitmap[w], 0);
  Store(desc_[h], SlabDesc(cls));  // commit
  TakePages(h, g.slab_pages);
  slab_used_[h] = 0;
  partial_[cls].push_back(h);
  in_partial_[h] = 1;
  NoteUsage();
  return head;
}

void* SnapshotArena::AllocateRun(size_t pages, uint64_t owner) {
  int64_t head = FindFreePages(pages);
  if (head < 0) {
    for (uint32_t c = 0; c < kClasses; ++c) {
      if (spare_slab_[c] != kNoHead) ReleaseSlab(spare_slab_[c]);
    }
    head = FindFreePages(pages);
    if (head < 0) return nullptr;
  }
  const auto h = static_cast<uint32_t>(head);
  Store(run_owner_[h], owner);
  Store(desc_[h], RunDesc(pages));  // commit
  TakePages(h, pages);
  ++usage_.blocks;
  usage_.block_bytes += pages * kPageBytes;
  NoteUsage();
  return reinterpret_cast<void*>(PageAddress(h));
}

// --- Free
// ------------------------------------------------------------------------------------------

bool SnapshotArena::Free(void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  bool freed = false;
  if (Contains(p)) {
    const auto page = static_cast<uint32_t>((address - data_) / kPageBytes);
    const uint32_t head = head_of_[page];
    if (head != kNoHead) {
      const uint64_t d = desc_[head].load(std::memory_order_relaxed);
      if (TagOf(d) == kSlabTag) {
        freed = FreeSlot(head, address);
      } else if (TagOf(d) == kRunTag && address == PageAddress(head)) {
        const uint64_t pages = PagesOf(d);
        Store(desc_[head], 0);  // commit
        GivePages(head, pages);
        --usage_.blocks;
        usage_.block_bytes -= pages * kPageBytes;
        NoteUsage();
        freed = true;
      }
    }
  }
  if (!freed) header_->ignored_frees.fetch_add(1, std::memory_order_relaxed);
  return freed;
}

bool SnapshotArena::FreeSlot(uint32_t head, uintptr_t address) {
  const uint32_t cls = ClassOf(desc_[head].load(std::memory_order_relaxed));
  const ClassGeometry& g = kGeometry[cls];
  const uint64_t offset = address - PageAddress(head);
  if (offset % g.slot_bytes != 0 || offset / g.slot_bytes >= g.slots) return false;
  const auto slot = static_cast<uint32_t>(offset / g.slot_bytes);
  std::atomic<uint64_t>& word = SlabBitmap(head, cls)[slot / 64];
  const uint64_t bits = word.load(std::memory_order_relaxed);
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((bits & bit) == 0) return false;  // free already
  Store(word, bits & ~bit);             // commit
  --slab_used_[head];
  --usage_.blocks;
  usage_.block_bytes -= g.slot_bytes;
  if (in_partial_[head] == 0) {
    partial_[cls].push_back(head);
    in_partial_[head] = 1;
  }
  if (slab_used_[head] == 0) {
    // One empty slab per class stays for the next allocation; more go back as pages.
    if (spare_slab_[cls] == kNoHead) {
      spare_slab_[cls] = head;
    } else if (spare_slab_[cls] != head) {
      ReleaseSlab(head);
    }
  }
  return true;
}

void SnapshotArena::ReleaseSlab(uint32_t head) {
  const uint32_t cls = ClassOf(desc_[head].load(std::memory_order_relaxed));
  Store(desc_[head], 0);  // commit
  GivePages(head, kGeometry[cls].slab_pages);
  RemovePartial(cls, head);
  if (spare_slab_[cls] == head) spare_slab_[cls] = kNoHead;
  slab_used_[head] = 0;
  NoteUsage();
}

void SnapshotArena::RemovePartial(uint32_t cls, uint32_t head) {
  if (in_partial_[head] == 0) return;
  std::vector<uint32_t>& list = partial_[cls];
  list.erase(std::find(list.begin(), list.end(), head));
  in_partial_[head] = 0;
}

// --- Pages
// -----------------------------------------------------------------------------------------

int64_t SnapshotArena::FindFreePages(size_t pages) const {
  uint64_t p = first_free_;
  while (p + pages <= npages_) {
    const uint64_t bits = free_pages_[p / 64] >> (p % 64);
    if (bits == 0) {
      p = (p / 64 + 1) * 64;
      continue;
    }
    p += static_cast<uint64_t>(std::countr_zero(bits));
    if (p + pages > npages_) break;
    uint64_t run = 1;
    while (run < pages && (free_pages_[(p + run) / 64] >> ((p + run) % 64) & 1) != 0) ++run;
    if (run == pages) return static_cast<int64_t>(p);
    p += run;
  }
  return -1;
}

void SnapshotArena::TakePages(uint32_t head, size_t pages) {
  for (uint64_t p = head; p < head + pages; ++p) {
    head_of_[p] = head;
    free_pages_[p / 64] &= ~(uint64_t{1} << (p % 64));
  }
  if (head == first_free_) first_free_ = static_cast<uint32_t>(head + pages);
  usage_.pages_in_use += pages;
  usage_.peak_pages = std::max(usage_.peak_pages, usage_.pages_in_use);
}

void SnapshotArena::GivePages(uint32_t head, size_t pages) {
  for (uint64_t p = head; p < head + pages; ++p) {
    head_of_[p] = kNoHead;
    free_pages_[p / 64] |= uint64_t{1} << (p % 64);
  }
  first_free_ = std::min(first_free_, head);
  usage_.pages_in_use -= pages;
}

void SnapshotArena::NoteUsage() {
  header_->pages_in_use.store(usage_.pages_in_use, std::memory_order_relaxed);
  header_->peak_pages.store(usage_.peak_pages, std::memory_order_relaxed);
}

// --- Owners, walking, reclaiming
// -------------------------------------------------------------------

uint64_t SnapshotArena::NewOwner() {
  // Stored before it is used: a successor never hands out an owner this process used.
  const uint64_t owner = header_->next_owner.load(std::memory_order_relaxed);
  Store(header_->next_owner, owner + 1);
  return owner;
}

void SnapshotArena::ForEachBlock(absl::FunctionRef<void(const Block&)> fn) const {
  for (uint32_t p = 0; p < npages_;) {
    const uint64_t d = desc_[p].load(std::memory_order_acquire);
    if (TagOf(d) == kSlabTag) {
      const uint32_t cls = ClassOf(d);
      const ClassGeometry& g = kGeometry[cls];
      const std::atomic<uint64_t>* bitmap = SlabBitmap(p, cls);
      const std::atomic<uint64_t>* owners = SlabOwners(p, cls);
      for (uint32_t w = 0; w < g.bitmap_words; ++w) {
        for (uint64_t bits = bitmap[w].load(std::memory_order_acquire); bits != 0;
             bits &= bits - 1) {
          const uint32_t slot = w * 64 + static_cast<uint32_t>(std::countr_zero(bits));
          fn(Block{reinterpret_cast<void*>(PageAddress(p) + uint64_t{slot} * g.slot_bytes),
                   g.slot_bytes, owners[slot].load(std::memory_order_relaxed)});
        }
      }
      p += g.slab_pages;
    } else if (TagOf(d) == kRunTag) {
      fn(Block{reinterpret_cast<void*>(PageAddress(p)), PagesOf(d) * kPageBytes,
               run_owner_[p].load(std::memory_order_relaxed)});
      p += static_cast<uint32_t>(PagesOf(d));
    } else {
      ++p;
    }
  }
}

SnapshotArena::Reclaimed SnapshotArena::Reclaim(absl::FunctionRef<bool(uint64_t)> live) {
  std::vector<Block> gone;
  ForEachBlock([&](const Block& b) {
    if (!live(b.owner)) gone.push_back(b);
  });
  Reclaimed r;
  for (const Block& b : gone) {
    if (!Free(b.p)) continue;
    ++r.blocks;
    r.bytes += b.bytes;
  }
  header_->reclaimed_blocks.fetch_add(r.blocks, std::memory_order_relaxed);
  header_->reclaimed_bytes.fetch_add(r.bytes, std::memory_order_relaxed);
  return r;
}

SnapshotArena::Usage SnapshotArena::usage() const { return usage_; }

SnapshotArena::Totals SnapshotArena::totals() const {
  Totals t;
  t.attaches = header_->attaches.load(std::memory_order_relaxed);
  t.reclaimed_blocks = header_->reclaimed_blocks.load(std::memory_order_relaxed);
  t.reclaimed_bytes = header_->reclaimed_bytes.load(std::memory_order_relaxed);
  t.ignored_frees = header_->ignored_frees.load(std::memory_order_relaxed);
  t.pages_in_use = header_->pages_in_use.load(std::memory_order_relaxed);
  t.peak_pages = header_->peak_pages.load(std::memory_order_relaxed);
  return t;
}

absl::Status SnapshotArena::Check() const {
  const auto fail = [](auto&&... what) { return absl::InternalError(absl::StrCat(what...)); };
  if (header_->magic.load() != Header::kMagic) return fail("header magic");
  std::vector<uint32_t> head_of(npages_, kNoHead);
  Usage expect;
  for (uint32_t p = 0; p < npages_;) {
    const uint64_t d = desc_[p].load();
    uint64_t pages = 1;
    if (d == 0) {
      ++p;
      continue;
    }
    if (TagOf(d) == kSlabTag) {
      const uint32_t cls = ClassOf(d);
      if (cls >= kClasses) return fail("page ", p, ": slab class ", cls);
      const ClassGeometry& g = kGeometry[cls];
      pages = g.slab_pages;
      if (p + pages > npages_) return fail("page ", p, ": slab beyond the end");
      uint32_t used = 0;
      for (uint32_t w = 0; w < g.bitmap_words; ++w) {
        const uint64_t bits = SlabBitmap(p, cls)[w].load();
        const uint32_t valid = std::min<uint32_t>(64, g.slots - w * 64);
        if (valid < 64 && (bits >> valid) != 0) return fail("page ", p, ": bits beyond slots");
        used += static_cast<uint32_t>(std::popcount(bits));
      }
      if (slab_used_[p] != used) {
        return fail("page ", p, ": index counts ", slab_used_[p], " slots, bitmap ", used);
      }
      if (used < g.slots && in_partial_[p] == 0) return fail("page ", p, ": not listed partial");
      if (in_partial_[p] != 0 && std::count(partial_[cls].begin(), partial_[cls].end(), p) != 1) {
        return fail("page ", p, ": partial flag without exactly one listing");
      }
      if (used == 0 && spare_slab_[cls] != p) return fail("page ", p, ": empty slab kept");
      expect.blocks += used;
      expect.block_bytes += uint64_t{used} * g.slot_bytes;
    } else if (TagOf(d) == kRunTag) {
      pages = PagesOf(d);
      if (pages == 0 || p + pages > npages_) return fail("page ", p, ": run of ", pages);
      ++expect.blocks;
      expect.block_bytes += pages * kPageBytes;
    } else {
      return fail("page ", p, ": descriptor ", absl::Hex(d));
    }
    for (uint64_t q = p; q < p + pages; ++q) {
      if (q != p && desc_[q].load() != 0) return fail("page ", q, ": tail with a descriptor");
      head_of[q] = p;
    }
    expect.pages_in_use += pages;
    p += static_cast<uint32_t>(pages);
  }
  for (uint32_t p = 0; p < npages_; ++p) {
    if (head_of[p] != head_of_[p]) return fail("page ", p, ": index head ", head_of_[p]);
    const bool free = (free_pages_[p / 64] >> (p % 64) & 1) != 0;
    if (free != (head_of[p] == kNoHead)) return fail("page ", p, ": free bit");
    if (free && p < first_free_) return fail("page ", p, ": free below first_free_");
  }
  for (uint32_t c = 0; c < kClasses; ++c) {
    for (uint32_t h : partial_[c]) {
      if (in_partial_[h] == 0 || TagOf(desc_[h].load()) != kSlabTag || ClassOf(desc_[h]) != c) {
        return fail("class ", c, ": partial list holds page ", h);
      }
    }
    if (spare_slab_[c] != kNoHead && slab_used_[spare_slab_[c]] != 0) {
      return fail("class ", c, ": spare slab in use");
    }
  }
  if (expect.blocks != usage_.blocks || expect.block_bytes != usage_.block_bytes ||
      expect.pages_in_use != usage_.pages_in_use) {
    return fail("usage: index says ", usage_.blocks, " blocks, ", usage_.block_bytes, " bytes, ",
                usage_.pages_in_use, " pages; metadata ", expect.blocks, ", ", expect.block_bytes,
                ", ", expect.pages_in_use);
  }
  return absl::OkStatus();
}

void SnapshotArena::KillBeforeMetadataWriteForTesting(uint64_t n) {
  g_kill_at = n == 0 ? 0 : g_metadata_writes + n;
}

uint64_t SnapshotArena::metadata_writes() { return g_metadata_writes; }

}  // namespace dmrswitch::ipc
