# Variables of the EL9 base-box template. Override on the command line, e.g.
#   packer build -var distro=rocky9 -var memory=4096 -only=qemu.el9 packer/el9

variable "distro" {
  type        = string
  default     = "almalinux9"
  description = "Which RHEL 9 rebuild to install: almalinux9, rocky9 or centos-stream9."

  validation {
    condition     = contains(["almalinux9", "rocky9", "centos-stream9"], var.distro)
    error_message = "The distro variable must be one of: almalinux9, rocky9, centos-stream9."
  }
}

variable "iso" {
  type = object({
    url      = string
    checksum = string
  })
  default     = null
  description = <<-EOT
    A pinned ISO instead of the distro's "latest" one: its url (a local path or URL) and its
    checksum ("sha256:HEX", "sha512:HEX" or "file:URL of a checksum file"), both required, e.g.
    -var 'iso={url="/srv/iso/AlmaLinux-9.5-x86_64-minimal.iso", checksum="sha256:..."}'.
    Null (the default): the distro's latest ISO and its CHECKSUM file from locals.distros.
  EOT

  # One variable, not iso_url + iso_checksum: a Packer validation can only look at its own
  # variable, and an overridden URL with the default checksum (the vendor's "latest" CHECKSUM
  # file) would fail the download check or, worse, pass it for the wrong ISO.
  validation {
    condition = var.iso == null || (
      can(regex("^(sha256:[0-9A-Fa-f]{64}|sha512:[0-9A-Fa-f]{128}|file:\\S+)$", var.iso.checksum)) &&
      can(regex("\\S", var.iso.url))
    )
    error_message = "The iso variable needs a url and its checksum; checksum must be \"sha256:<64 hex>\", \"sha512:<128 hex>\" or \"file:<URL>\" (not \"none\")."
  }
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory" {
  type        = number
  default     = 2048
  description = "MiB of RAM for the build VM (Anaconda wants >= 1.5 GiB)."
}

variable "disk_size" {
  type        = number
  default     = 20480
  description = "Virtual disk size in MiB (the box's disk is thin: qcow2 / dynamic VDI)."
}

variable "headless" {
  type    = bool
  default = true
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "QEMU accelerator for qemu.el9: kvm (needs a usable /dev/kvm; CPU model host) or tcg (no KVM, many times slower; CPU model max, longer boot_wait and timeouts)."

  validation {
    condition     = contains(["kvm", "tcg"], var.accelerator)
    error_message = "The accelerator variable must be kvm or tcg (the CPU model follows from it: host with kvm, max with tcg)."
  }
}

variable "qemu_binary" {
  type        = string
  default     = "qemu-system-x86_64"
  description = "QEMU executable for qemu.el9 (name on PATH or absolute path; EL hosts: /usr/libexec/qemu-kvm). webfarm.packer.check_host looks for the default."
}

variable "ssh_timeout" {
  type        = string
  default     = ""
  description = "How long Packer waits for the installed system's SSH (the whole Anaconda install). Empty: 45m, or 4h with accelerator=tcg."
}
