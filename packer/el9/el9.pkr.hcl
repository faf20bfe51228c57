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
      version = "~> 1.1" # >= 1.1.0, < 2: cpu_model (>= 1.0.9), disk_detect_zeroes
    }
    virtualbox = {
      source = "github.com/hashicorp/virtualbox"
      # 1.1.0 is the first release that turns on --nat-localhostreachable1 on VirtualBox >= 7,
      # without which the installer cannot reach Packer's HTTP server (the kickstart).
      version = "~> 1.1"
    }
    vagrant = {
      source  = "github.com/hashicorp/vagrant"
      version = "~> 1.1"
    }
  }
}

locals {
  # The vendors' "latest 9.x" names: the URLs follow each point release, and the checksum is
  # read from the vendor's CHECKSUM file at build time ("file:" form), so neither goes stale.
  # Pin a point release with -var 'iso={url="...", checksum="sha256:..."}' (variables.pkr.hcl).
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
  iso_url      = var.iso == null ? local.distro.iso_url : var.iso.url
  iso_checksum = var.iso == null ? local.distro.iso_checksum : var.iso.checksum
  # Same interface names in the installer as in the installed system (bootloader --append).
  boot_args = trimspace("net.ifnames=0 biosdevname=0 ${local.distro.boot_args}")

  # Where the VirtualBox builder uploads the Guest Additions ISO (read by guest-additions.sh).
  guest_additions_iso = "/home/vagrant/VBoxGuestAdditions.iso"

  # CPU model for qemu.el9. EL9's glibc needs x86-64-v2; without -cpu QEMU emulates qemu64,
  # which lacks it, and the installer dies with "Fatal glibc error: CPU does not support
  # x86-64-v2" (packer-plugin-qemu issue 76). KVM passes the host CPU through; TCG cannot
  # ("host" needs KVM) and emulates "max", every feature TCG implements (x86-64-v2 and more).
  cpu_model = var.accelerator == "tcg" ? "max" : "host"

  # Time from power-on to typing at the ISO's isolinux menu. Keys typed before the menu is
  # drawn are lost and the default entry ("Test this media & install", no inst.ks) boots
  # when isolinux's 60 s timeout runs out. Under TCG the firmware and isolinux load several
  # times slower, so wait longer, but well inside that 60 s.
  boot_wait = var.accelerator == "tcg" ? "40s" : "15s"

  # The whole Anaconda install, and the reboot after base.sh, take many times longer under TCG.
  ssh_timeout         = var.ssh_timeout != "" ? var.ssh_timeout : (var.accelerator == "tcg" ? "4h" : "45m")
  reboot_pause        = var.accelerator == "tcg" ? "2m" : "30s"
  start_retry_timeout = var.accelerator == "tcg" ? "1h" : "10m"
}

# libvirt box: QEMU/KVM builds a qcow2 disk, the vagrant post-processor wraps it for libvirt.
source "qemu" "el9" {
  iso_url      = local.iso_url
  iso_checksum = local.iso_checksum

  qemu_binary      = var.qemu_binary
  accelerator      = var.accelerator
  cpu_model        = local.cpu_model
  cpus             = var.cpus
  memory           = var.memory
  disk_size        = "${var.disk_size}M"
  format           = "qcow2"
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  # Guest TRIM (fstrim in zero.sh) frees qcow2 clusters, and blocks of zeros are stored as
  # holes instead of growing the image to its full virtual size.
  disk_discard       = "unmap"
  disk_detect_zeroes = "unmap"
  disk_compression   = true

  headless         = var.headless
  vm_name          = "webfarm-${var.distro}.qcow2"
  output_directory = "${path.root}/output/qemu-${var.distro}"

  # Kickstart over Packer's HTTP server. BIOS (isolinux) menu: <up> selects "Install"
  # (the default entry is "Test this media & install"), <tab> edits its kernel command line.
  http_directory = "${path.root}/http"
  boot_wait      = local.boot_wait
  boot_command = [
    "<wait><up><wait><tab><wait>",
    " inst.text inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg ${local.boot_args}",
    "<enter><wait>",
  ]

  communicator     = "ssh"
  ssh_username     = "vagrant"
  ssh_password     = "vagrant"
  ssh_timeout      = local.ssh_timeout
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
  # TRIM from the guest (fstrim in zero.sh) shrinks the VDI; VirtualBox only offers TRIM on a
  # drive it reports as an SSD, hence nonrotational.
  hard_drive_discard       = true
  hard_drive_nonrotational = true
  headless             = var.headless
  vm_name              = "webfarm-${var.distro}"
  output_directory     = "${path.root}/output/virtualbox-${var.distro}"

  guest_additions_mode = "upload"
  guest_additions_path = local.guest_additions_iso

  http_directory = "${path.root}/http"
  boot_wait      = "15s" # VirtualBox always runs hardware-assisted
  boot_command = [
    "<wait><up><wait><tab><wait>",
    " inst.text inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg ${local.boot_args}",
    "<enter><wait>",
  ]

  communicator     = "ssh"
  ssh_username     = "vagrant"
  ssh_password     = "vagrant"
  ssh_timeout      = var.ssh_timeout != "" ? var.ssh_timeout : "45m"
  shutdown_command = "sudo systemctl poweroff"
}

build {
  sources = [
    "source.qemu.el9",
    "source.virtualbox-iso.el9",
  ]

  # Base packages and a full upgrade (base.sh does not reboot).
  provisioner "shell" {
    execute_command = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
    scripts         = ["${path.root}/scripts/base.sh"]
  }

  # Reboot into the newest kernel (kernel-devel must match the running kernel for the Guest
  # Additions), as its own provisioner that expects the disconnect: `systemctl reboot` waits
  # for the shutdown to start, and the sleep keeps the provisioner running until the reboot
  # ends the SSH session, so nothing else runs on the old system. Exit 143 is the shell
  # killed by SIGTERM at shutdown; skip_clean: the script cannot be removed after a reboot.
  provisioner "shell" {
    execute_command = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
    inline = [
      "echo '[reboot] rebooting into the newest kernel' >&2",
      "systemctl reboot",
      "sleep 600",
      "echo '[reboot] error: still up 10 minutes after systemctl reboot' >&2",
      "exit 1",
    ]
    expect_disconnect = true
    skip_clean        = true
    valid_exit_codes  = [0, 143]
  }

  # After the reboot: wait for the shutdown to finish, then reconnect (retrying while the
  # system boots); after-reboot.sh fails unless the default (newest) kernel is running.
  provisioner "shell" {
    pause_before        = local.reboot_pause
    start_retry_timeout = local.start_retry_timeout
    execute_command     = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
    environment_vars    = ["GUEST_ADDITIONS_ISO=${local.guest_additions_iso}"]
    scripts = [
      "${path.root}/scripts/after-reboot.sh",
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
    compression_level   = 9 # the box is built once and downloaded/added many times
  }
}
