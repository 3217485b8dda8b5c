#include "ufs/mount_table.h"

#include <fmt/format.h>

#include <mutex>

#include "ufs/factory.h"

namespace sluice::ufs {

std::string Resolved::ObjectUri() const {
  if (!store) return "/";
  return key.empty() ? store->Uri() : store->Uri() + "/" + key;
}

Status ValidateMountName(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return Status::InvalidArgument(fmt::format("mount name '{}' must be 1-63 characters", name));
  }
  if (name == "." || name == "..") return Status::InvalidArgument("mount name cannot be . or ..");
  for (const char* reserved : {"v1", "metrics", "healthz", "readyz"}) {
    if (name == reserved) {
      return Status::InvalidArgument(
          fmt::format("mount name '{}' is reserved for the worker's own endpoints", name));
    }
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return Status::InvalidArgument(
          fmt::format("mount name '{}' may only hold letters, digits, '.', '_' and '-'", name));
    }
  }
  return Status::OK();
}

Result<std::pair<std::string, std::string>> ParseMountSpec(std::string_view spec) {
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    return Status::InvalidArgument(fmt::format("mount '{}' is not NAME=URI", spec));
  }
  std::string name(spec.substr(0, eq));
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  SLUICE_RETURN_IF_ERROR(ValidateMountName(name));
  return std::make_pair(name, std::string(spec.substr(eq + 1)));
}

Status MountTable::Add(const std::string& name, const std::string& uri,
                       std::shared_ptr<UnderStore> store) {
  SLUICE_RETURN_IF_ERROR(ValidateMountName(name));
  std::unique_lock lock(mu_);
  if (mounts_.count(name)) {
    return Status::AlreadyExists(fmt::format("mount '{}' already exists", name));
  }
  mounts_[name] = Mount{name, uri, std::move(store)};
  return Status::OK();
}

Status MountTable::AddUri(const std::string& name, const std::string& uri,
                          const UnderStoreOptions& options) {
  if (IsStoreRootUri(uri)) {
    auto root = OpenStoreRoot(uri, options);
    if (!root.ok()) return root.status().WithContext(fmt::format("mount '{}'", name));
    return AddRoot(name, uri, std::shared_ptr<StoreRoot>(std::move(root).value()));
  }
  auto store = OpenUnderStore(uri, options);
  if (!store.ok()) return store.status().WithContext(fmt::format("mount '{}'", name));
  return Add(name, uri, std::shared_ptr<UnderStore>(std::move(store).value()));
}

Status MountTable::AddRoot(const std::string& name, const std::string& uri,
                           std::shared_ptr<StoreRoot> root) {
  SLUICE_RETURN_IF_ERROR(ValidateMountName(name));
  std::unique_lock lock(mu_);
  for (const auto& r : roots_) {
    if (r.name == name) return Status::AlreadyExists(fmt::format("mount '{}' already exists", name));
  }
  roots_.push_back(Root{name, uri, std::move(root)});
  return Status::OK();
}

std::vector<MountTable::Root> MountTable::Roots() const {
  std::shared_lock lock(mu_);
  return roots_;
}

Result<MountTable::Root> MountTable::RootOf(const std::string& bucket) const {
  for (const auto& root : Roots()) {  // outside the lock: OpenBucket may ask the store
    auto store = root.root->OpenBucket(bucket);
    if (store.ok()) return root;
    if (!store.status().Is(StatusCode::kNotFound)) return store.status();
  }
  return Status::NotFound(fmt::format("no bucket named '{}'", bucket));
}

void MountTable::ForgetBucket(const std::string& bucket) {
  std::unique_lock lock(mu_);
  buckets_.erase(bucket);
}

Status MountTable::Remove(const std::string& name) {
  std::unique_lock lock(mu_);
  if (mounts_.erase(name) == 0) return Status::NotFound(fmt::format("no mount '{}'", name));
  return Status::OK();
}

Result<Resolved> MountTable::Resolve(std::string_view path) const {
  Result<Resolved> known = ResolveCached(path);
  if (known.ok() || !known.status().Is(StatusCode::kNotFound)) return known;
  const std::string name = SplitPath(path)->mount;
  std::vector<Root> roots;
  {
    std::shared_lock lock(mu_);
    roots = roots_;
  }
  // A bucket of a whole-store mount, opened on first use (outside the lock: it asks the
  // store whether the bucket exists).
  for (const auto& root : roots) {
    auto store = root.root->OpenBucket(name);
    if (store.ok()) {
      std::unique_lock lock(mu_);
      auto [it, inserted] =
          buckets_.try_emplace(name, std::shared_ptr<UnderStore>(std::move(store).value()));
      Resolved r = *SplitPath(path);
      r.store = it->second;
      return r;
    }
    if (!store.status().Is(StatusCode::kNotFound)) return store.status();
  }
  return Status::NotFound(fmt::format("no mount named '{}'", name));
}

Result<Resolved> MountTable::SplitPath(std::string_view path) {
  SLUICE_ASSIGN_OR_RETURN(std::string norm, NormalizeKey(path));
  Resolved r;
  size_t slash = norm.find('/');
  r.mount = norm.substr(0, slash);
  r.key = slash == std::string::npos ? "" : norm.substr(slash + 1);
  return r;
}

Result<Resolved> MountTable::ResolveCached(std::string_view path) const {
  SLUICE_ASSIGN_OR_RETURN(Resolved r, SplitPath(path));
  if (r.mount.empty()) return r;  // the root
  const std::string& name = r.mount;
  std::shared_lock lock(mu_);
  if (auto it = mounts_.find(name); it != mounts_.end()) {
    r.store = it->second.store;
    return r;
  }
  if (auto it = buckets_.find(name); it != buckets_.end()) {
    r.store = it->second;
    return r;
  }
  return Status::NotFound(fmt::format("no mount named '{}' (or not opened yet)", name));
}

std::vector<Mount> MountTable::List() const {
  std::shared_lock lock(mu_);
  std::vector<Mount> out;
  for (const auto& [n, m] : mounts_) out.push_back(m);
  return out;
}

}  // namespace sluice::ufs
