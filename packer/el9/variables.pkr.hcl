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

variable "iso_url" {
  type        = string
  default     = ""
  description = "Override the distro's ISO (a local path or URL, e.g. a pinned 9.x ISO). Empty: the distro's latest ISO from locals.distros."
}

variable "iso_checksum" {
  type        = string
  default     = ""
  description = "Checksum for iso_url (\"sha256:HEX\" or \"file:URL\"). Empty: the distro's CHECKSUM file."
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
  description = "QEMU accelerator for qemu.el9: kvm (needs a usable /dev/kvm), tcg (slow, no KVM needed), hvf, whpx."
}

variable "ssh_timeout" {
  type        = string
  default     = "45m"
  description = "How long Packer waits for the installed system's SSH (the whole Anaconda install)."
}
