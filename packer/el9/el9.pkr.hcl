# EL9 base box for the webfarm lab: AlmaLinux 9 (default), Rocky Linux 9 or CentOS Stream 9,
# for libvirt (qemu.el9) and VirtualBox (virtualbox-iso.el9). Same kickstart for all three;
# only the ISO differs. See packer/README.md.
#
#   packer init packer/el9
#   packer build -var distro=almalinux9 -only=qemu.el9 packer/el9
#   vagrant box add --name webfarm/almalinux9 packer/el9/output/webfarm-almalinux9-libvirt.box
#
# Paths are relative to this directory (path.root), so the commands work from any directory.

packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.1.0"
    }
    virtualbox = {
      source  = "github.com/hashicorp/virtualbox"
      version = ">= 1.0.5"
    }
    vagrant = {
      source  = "github.com/hashicorp/vagrant"
      version = ">= 1.1.0"
    }
  }
}

locals {
  # The vendors' "latest 9.x" names: the URLs follow each point release, and the checksum is
  # read from the vendor's CHECKSUM file at build time ("file:" form), so neither goes stale.
  # Pin a point release with -var iso_url=... -var iso_checksum=sha256:...
  distros = {
    almalinux9 = {
      # Minimal ISO: BaseOS + AppStream subset on the disc, installs without network.
      iso_url      = "https://repo.almalinux.org/almalinux/9/isos/x86_64/AlmaLinux-9-latest-x86_64-minimal.iso"
      iso_checksum = "file:https://repo.almalinux.org/almalinux/9/isos/x86_64/CHECKSUM"
      boot_args    = ""
    }
    rocky9 = {
      # Minimal ISO, same as AlmaLinux; per-ISO CHECKSUM file named after the "latest" link.
      iso_url      = "https://download.rockylinux.org/pub/rocky/9/isos/x86_64/Rocky-9-latest-x86_64-minimal.iso"
      iso_checksum = "file:https://download.rockylinux.org/pub/rocky/9/isos/x86_64/Rocky-9-latest-x86_64-minimal.iso.CHECKSUM"
      boot_args    = ""
    }
    "centos-stream9" = {
      # CentOS Stream publishes no minimal ISO: the boot ISO installs from the BaseOS mirror.
      iso_url      = "https://mirror.stream.centos.org/9-stream/BaseOS/x86_64/iso/CentOS-Stream-9-latest-x86_64-boot.iso"
      iso_checksum = "file:https://mirror.stream.centos.org/9-stream/BaseOS/x86_64/iso/CentOS-Stream-9-latest-x86_64-boot.iso.SHA256SUM"
      boot_args    = "inst.repo=https://mirror.stream.centos.org/9-stream/BaseOS/x86_64/os/"
    }
  }

  distro       = local.distros[var.distro]
  iso_url      = var.iso_url != "" ? var.iso_url : local.distro.iso_url
  iso_checksum = var.iso_checksum != "" ? var.iso_checksum : local.distro.iso_checksum
  # Same interface names in the installer as in the installed system (bootloader --append).
  boot_args = trimspace("net.ifnames=0 biosdevname=0 ${local.distro.boot_args}")

  # Where the VirtualBox builder uploads the Guest Additions ISO (read by guest-additions.sh).
  guest_additions_iso = "/home/vagrant/VBoxGuestAdditions.iso"
}

# libvirt box: QEMU/KVM builds a qcow2 disk, the vagrant post-processor wraps it for libvirt.
source "qemu" "el9" {
  iso_url      = local.iso_url
  iso_checksum = local.iso_checksum

  accelerator      = var.accelerator
  cpus             = var.cpus
  memory           = var.memory
  disk_size        = "${var.disk_size}M"
  format           = "qcow2"
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  disk_discard     = "unmap"
  disk_compression = true
  headless         = var.headless
  vm_name          = "webfarm-${var.distro}.qcow2"
  output_directory = "${path.root}/output/qemu-${var.distro}"

  # Kickstart over Packer's HTTP server. BIOS (isolinux) menu: <up> selects "Install"
  # (the default entry is "Test this media & install"), <tab> edits its kernel command line.
  http_directory = "${path.root}/http"
  boot_wait      = "5s"
  boot_command = [
    "<wait><up><wait><tab><wait>",
    " inst.text inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg ${local.boot_args}",
    "<enter><wait>",
  ]

  communicator     = "ssh"
  ssh_username     = "vagrant"
  ssh_password     = "vagrant"
  ssh_timeout      = var.ssh_timeout
  shutdown_command = "sudo systemctl poweroff"
}

# VirtualBox box: same install; Guest Additions are uploaded and built by guest-additions.sh.
source "virtualbox-iso" "el9" {
  iso_url      = local.iso_url
  iso_checksum = local.iso_checksum

  guest_os_type        = "RedHat_64"
  firmware             = "bios"
  cpus                 = var.cpus
  memory               = var.memory
  disk_size            = var.disk_size
  hard_drive_interface = "sata"
  iso_interface        = "sata"
  headless             = var.headless
  vm_name              = "webfarm-${var.distro}"
  output_directory     = "${path.root}/output/virtualbox-${var.distro}"

  guest_additions_mode = "upload"
  guest_additions_path = local.guest_additions_iso

  http_directory = "${path.root}/http"
  boot_wait      = "5s"
  boot_command = [
    "<wait><up><wait><tab><wait>",
    " inst.text inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg ${local.boot_args}",
    "<enter><wait>",
  ]

  communicator     = "ssh"
  ssh_username     = "vagrant"
  ssh_password     = "vagrant"
  ssh_timeout      = var.ssh_timeout
  shutdown_command = "sudo systemctl poweroff"
}

build {
  sources = [
    "source.qemu.el9",
    "source.virtualbox-iso.el9",
  ]

  # Base packages and a full upgrade, then a reboot into the newest kernel (so that
  # kernel-devel matches the running kernel for the Guest Additions).
  provisioner "shell" {
    execute_command   = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
    scripts           = ["${path.root}/scripts/base.sh"]
    expect_disconnect = true
  }

  provisioner "shell" {
    pause_before        = "30s"
    start_retry_timeout = "10m"
    execute_command     = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
    environment_vars    = ["GUEST_ADDITIONS_ISO=${local.guest_additions_iso}"]
    scripts = [
      "${path.root}/scripts/vagrant-user.sh",
      "${path.root}/scripts/guest-additions.sh",
      "${path.root}/scripts/cleanup.sh",
      "${path.root}/scripts/zero.sh",
    ]
  }

  # qemu.el9 -> webfarm-DISTRO-libvirt.box, virtualbox-iso.el9 -> webfarm-DISTRO-virtualbox.box
  post-processor "vagrant" {
    output              = "${path.root}/output/webfarm-${var.distro}-{{.Provider}}.box"
    keep_input_artifact = false
  }
}
